// The signer against AWS's published SigV4 vectors: canonical request, string to sign, signature, Authorization.
import Foundation
import HTTP
import Core
import Testing
@testable import AWS

@Suite struct SigV4SignerTests {
    static func sign(_ v: SigV4Vector) -> SigV4Signature {
        let credentials: AWSCredentials
        let time: EpochMillis
        let region = "us-east-1"
        let service: String
        switch v.suite {
        case .v4TestSuite:
            credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                         sessionToken: v.token)
            time = EpochMillis.parseISO8601("2015-08-30T12:36:00Z")!
            service = "service"
        case .s3Documentation:
            credentials = AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
            time = EpochMillis.parseISO8601("2013-05-24T00:00:00Z")!
            service = "s3"
        }
        let signer = SigV4Signer(credentials: credentials, region: region, service: service,
                                 normalizePath: v.normalizePath, encodePath: v.encodePath,
                                 addContentSHA256Header: v.contentSHA256Header)
        let request = SigV4Request(method: v.method, path: v.path, query: v.query,
                                   headers: v.headers.map { HTTPHeader($0.0, $0.1) },
                                   payloadHash: SigV4Signer.sha256Hex(Array(v.body.utf8)))
        return signer.sign(request, at: time)
    }

    @Test(arguments: sigV4Vectors)
    func publishedVector(_ v: SigV4Vector) {
        let s = Self.sign(v)
        if let creq = v.canonicalRequest { #expect(s.canonicalRequest == creq) }
        let (day, scope, amzDate) = v.suite == .v4TestSuite
            ? ("20150830", "20150830/us-east-1/service/aws4_request", "20150830T123600Z")
            : ("20130524", "20130524/us-east-1/s3/aws4_request", "20130524T000000Z")
        _ = day
        if let hash = v.canonicalRequestHash {
            #expect(s.stringToSign == "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(hash)")
        }
        #expect(s.signedHeaders == v.signedHeaders)
        #expect(s.signature == v.signature)
        let key = v.suite == .v4TestSuite ? "AKIDEXAMPLE" : "AKIAIOSFODNN7EXAMPLE"
        #expect(s.authorization == "AWS4-HMAC-SHA256 Credential=\(key)/\(scope), SignedHeaders=\(v.signedHeaders), Signature=\(v.signature)")
        #expect(s.headers.contains(HTTPHeader("X-Amz-Date", amzDate)))
        #expect(s.headers.contains(HTTPHeader("Authorization", s.authorization)))
    }

    @Test func vectorCount() {
        // Guards against the table silently shrinking.
        #expect(sigV4Vectors.count >= 38)
    }

    @Test func sessionTokenIsSentAndSigned() {
        let v = sigV4Vectors.first { $0.name == "get-vanilla-with-session-token" }!
        let s = Self.sign(v)
        #expect(s.headers.contains(HTTPHeader("X-Amz-Security-Token", v.token!)))
    }

    @Test func aDifferentSecretGivesADifferentSignature() {
        let base = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        let other = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEX")
        let req = SigV4Request(method: "GET", path: "/", headers: [HTTPHeader("Host", "example.amazonaws.com")],
                               payloadHash: SigV4Signer.emptyPayloadHash)
        let t = EpochMillis(1_440_938_160_000)
        let a = SigV4Signer(credentials: base, region: "us-east-1", service: "service").sign(req, at: t)
        let b = SigV4Signer(credentials: other, region: "us-east-1", service: "service").sign(req, at: t)
        #expect(a.canonicalRequest == b.canonicalRequest)
        #expect(a.signature != b.signature)
    }

    @Test func nonS3PathsAreEncodedTwiceS3PathsOnce() {
        // A key with a space goes on the wire as %20; S3 signs that as is, other services encode it again.
        let creds = AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret")
        let req = SigV4Request(method: "GET", path: "/a%20b/c", headers: [HTTPHeader("Host", "h")],
                               payloadHash: SigV4Signer.emptyPayloadHash)
        let t = EpochMillis(0)
        let s3 = SigV4Signer(credentials: creds, region: "us-east-1", service: "s3").sign(req, at: t)
        let logs = SigV4Signer(credentials: creds, region: "us-east-1", service: "logs").sign(req, at: t)
        #expect(s3.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[1] == "/a%20b/c")
        #expect(logs.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[1] == "/a%2520b/c")
        #expect(s3.headers.contains { $0.name == "x-amz-content-sha256" })
        #expect(!logs.headers.contains { $0.name == "x-amz-content-sha256" })
    }

    @Test func amzDate() {
        #expect(SigV4Signer.amzDate(EpochMillis.parseISO8601("2015-08-30T12:36:00Z")!) == "20150830T123600Z")
        #expect(SigV4Signer.amzDate(EpochMillis.parseISO8601("2024-02-29T23:59:59.999Z")!) == "20240229T235959Z")
    }

    @Test func descriptionsHoldNoSecrets() {
        let creds = AWSCredentials(accessKeyID: "AKIDPUBLIC", secretAccessKey: "SECRET-KEY-VALUE", sessionToken: "TOKEN-VALUE")
        let signer = SigV4Signer(credentials: creds, region: "us-east-1", service: "logs")
        let s = signer.sign(SigV4Request(method: "GET", path: "/", headers: [HTTPHeader("Host", "h")],
                                         payloadHash: SigV4Signer.emptyPayloadHash), at: EpochMillis(0))
        for text in ["\(creds)", String(reflecting: creds), "\(signer)", "\(s)"] {
            #expect(!text.contains("SECRET-KEY-VALUE"))
            #expect(!text.contains("TOKEN-VALUE"))
            #expect(!text.contains(s.signature))
        }
        #expect("\(creds)".contains("AKIDPUBLIC"))
    }
}
