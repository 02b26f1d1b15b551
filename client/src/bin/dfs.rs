//! `dfs`: the Tusk file-system shell (see `tusk_client::shell`).

fn main() {
    std::process::exit(tusk_client::shell::main());
}
