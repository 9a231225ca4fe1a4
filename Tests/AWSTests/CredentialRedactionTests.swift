// The process's AWS credentials are credentials too: an echoed X-Amz-Security-Token must not reach a log or an answer.
import AWS
import Core
import Testing

@Suite struct CredentialRedactionTests {
    @Test func theSecretKeyAndSessionTokenAreMasked() throws {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY-test"
        let token = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN-test"
        _ = try AWSCredentials.fromEnvironment(["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": secret,
                                                "AWS_SESSION_TOKEN": token])
        let echoed = "X-Amz-Security-Token: \(token)\nsecret=\(secret)"
        #expect(SecretRedactor.shared.redact(echoed) == "X-Amz-Security-Token: ***\nsecret=***")
    }
}
