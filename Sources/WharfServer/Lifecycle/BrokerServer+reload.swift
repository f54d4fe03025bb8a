extension BrokerServer {
    /// SIGHUP: re-reads what an operator replaces while the broker runs
    /// (TLS certificates and keys, the password and ACL files). A file that cannot be used is logged
    /// with its name and why, and what was in force stays in force.
    /// Existing connections are not touched; new ones get what was read.
    public func reload() {
        logger.info("re-reading TLS, password and ACL files")
        security.reload(logger: logger)
        for listener in listeners {
            guard let tls = listener.tls else { continue }
            do {
                try tls.reload()
                logger.info("listener \(listener.name): TLS certificate and key re-read")
            } catch {
                logger.error("listener \(listener.name): keeping the TLS files in force: \(error)")
            }
        }
    }
}
