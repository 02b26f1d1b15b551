//! `dfs`: the Tusk file-system shell (see `tusk_client::shell`).

fn main() {
    // TLS (when the cluster runs it): the CA from TUSK_TLS_CA or the
    // client config file, for every connection the shell makes.
    if let Err(e) = tusk_client::ClientConfig::from_env().install_tls() {
        eprintln!("dfs: {e}");
        std::process::exit(1);
    }
    std::process::exit(tusk_client::shell::main());
}
