// TLS is verified against the CA bundle SSL_CERT_FILE names: a test CA's server is accepted with it, refused without.
import Foundation
import HTTP
import TestSupport
import Testing

@Suite(.serialized) struct TLSTests {
    /// A CA, a server certificate for 127.0.0.1 signed by it, and `openssl s_server` serving it.
    final class TLSServer {
        let dir: URL
        let port: UInt16
        let process: Process
        var caPath: String { dir.appendingPathComponent("ca.pem").path }

        init() throws {
            dir = try temporaryDirectory()
            let d = dir.path
            let script = """
            set -e; cd '\(d)'
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=apitap test CA' 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1' 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext.cnf
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null
            """
            let r = try sh(script)
            guard r.status == 0 else { throw NSError(domain: "openssl", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
            port = freeLoopbackPort()
            process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", "\(d)/server.pem", "-key", "\(d)/server.key", "-www", "-quiet"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
            // Ready when it accepts connections.
            for _ in 0..<100 {
                if (try? sh("exec 3<>/dev/tcp/127.0.0.1/\(port)").status) == 0 { return }
                usleep(50_000)
            }
        }

        deinit {
            // s_server does not always stop on SIGTERM; stop it by PID for certain.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    @Test func acceptsAServerSignedByTheCAInSSLCertFile() async throws {
        let server = try TLSServer()
        let bundle = CABundle.resolve(environment: ["SSL_CERT_FILE": server.caPath])
        #expect(bundle == server.caPath)
        let client = try HTTPClient(caBundle: bundle)
        let response = try await client.send(HTTPRequest(url: "https://127.0.0.1:\(server.port)/"))
        #expect(response.status == 200)
        #expect(response.bodyText.contains("s_server"))
    }

    @Test func refusesTheSameServerWithoutThatCA() async throws {
        let server = try TLSServer()
        let client = try HTTPClient(caBundle: CABundle.resolve(environment: [:]))
        await #expect {
            try await client.send(HTTPRequest(url: "https://127.0.0.1:\(server.port)/"))
        } throws: { ($0 as? HTTPError)?.kind == .tls }
    }

    @Test func blockingConnectionVerifiesToo() throws {
        let server = try TLSServer()
        let good = try BlockingConnection(caBundle: server.caPath)
        #expect(try good.perform(HTTPRequest(url: "https://127.0.0.1:\(server.port)/")).status == 200)
        let bad = try BlockingConnection(caBundle: "/etc/ssl/certs/ca-certificates.crt")
        #expect(throws: HTTPError.self) { try bad.perform(HTTPRequest(url: "https://127.0.0.1:\(server.port)/")) }
    }
}
