import NIOSSL

extension ListenerConfig.CertificateIdentity {
    /// The identity this field names in a verified client certificate, or
    /// nil when the certificate has none (the client is then refused, as
    /// Mosquitto refuses it).
    func read(from certificate: NIOSSLCertificate) -> String? {
        switch self {
        case .commonName:
            // The most significant (last) CN when there are several.
            return certificate.subjectName.last { $0.type == .commonName }?.value
        case .dnsName:
            return Self.firstAlternativeName(of: .dnsName, in: certificate)
        case .email:
            return Self.firstAlternativeName(of: .email, in: certificate)
        }
    }

    private static func firstAlternativeName(
        of type: _SubjectAlternativeName.NameType, in certificate: NIOSSLCertificate
    ) -> String? {
        for name in certificate._subjectAlternativeNames() where name.nameType == type {
            return name.contents.withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) }
        }
        return nil
    }
}
