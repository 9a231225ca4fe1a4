// Starts the strict UAP Edge double (Tests/Support/uap_edge_double.py) over HTTPS with a fresh test CA, and stops it by PID.
import Foundation

final class UAPDouble {
    let directory: URL
    private(set) var port: UInt16 = 0
    let process: Process
    let clientID = "apitap-test"
    let clientSecret = "s3cr3t-value"
    var caPath: String { directory.appendingPathComponent("ca.pem").path }
    var recordsPath: String { directory.appendingPathComponent("records.ndjson").path }
    var base: String { "https://127.0.0.1:\(port)" }
    var tokenURL: String { base + "/auth/realms/cequence/protocol/openid-connect/token" }
    var transactionsURL: String { base + "/api-transactions" }

    init(faults: [String] = [], tokenTTL: Int = 3600, maxBatchBytes: Int = 1_048_576, maxBatchTransactions: Int = 250,
         noAuth: Bool = false, acceptGzip: Bool = false, slowSeconds: Double = 3) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("apitap-uap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let d = directory.path
        let certs = Process()
        certs.executableURL = URL(fileURLWithPath: "/bin/bash")
        certs.arguments = ["-c", """
            set -e; cd '\(d)'
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=apitap UAP test CA' 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1' 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext.cnf
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null
            touch records.ndjson
            """]
        try certs.run()
        certs.waitUntilExit()
        guard certs.terminationStatus == 0 else { throw DoubleError("openssl could not make the test CA") }

        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var args = ["python3", root.appendingPathComponent("Tests/Support/uap_edge_double.py").path, "--port", "0",
                    "--cert", "\(d)/server.pem", "--key", "\(d)/server.key",
                    "--schema", root.appendingPathComponent("docs/edge-transaction.schema.json").path,
                    "--records", "\(d)/records.ndjson", "--client-id", clientID, "--client-secret", clientSecret,
                    "--token-ttl", "\(tokenTTL)", "--max-batch-bytes", "\(maxBatchBytes)",
                    "--max-batch-transactions", "\(maxBatchTransactions)", "--faults", faults.joined(separator: ","),
                    "--slow-seconds", "\(slowSeconds)"]
        if noAuth { args.append("--no-auth") }
        if acceptGzip { args.append("--accept-gzip") }
        process.arguments = args
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle(forWritingAtPath: "\(d)/double.log") ?? FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // It prints "ready PORT" once it listens on the port the kernel gave it.
        var text = ""
        while !text.contains("\n") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard words.first == "ready", words.count > 1, let p = UInt16(words[1]) else {
            kill(process.processIdentifier, SIGKILL)
            let log = (try? String(contentsOfFile: "\(d)/double.log", encoding: .utf8)) ?? ""
            throw DoubleError("the UAP double did not start (python3 with jsonschema is needed): \(text) \(log.suffix(300))")
        }
        port = p
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Every transaction the double accepted, in order of arrival.
    func records() throws -> [[String: Any]] {
        let text = try String(contentsOfFile: recordsPath, encoding: .utf8)
        return try text.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
    }

    func stats() throws -> [String: Any] {
        // The double's own counters, fetched with curl to keep the client under test out of it.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["curl", "-sf", "--cacert", caPath, base + "/_stats"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }
}

struct DoubleError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
