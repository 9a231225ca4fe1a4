// The one place credentials are masked: what is registered never comes out, whatever surrounds it.
import Core
import Testing

@Suite struct SecretRedactorTests {
    @Test func everyRegisteredValueIsMaskedWhereverItStands() {
        let r = SecretRedactor()
        r.register("s3cr3t-value-1")
        r.register("s3cr3t-value-1-longer")
        r.register("short")
        #expect(r.redact("a s3cr3t-value-1-longer b s3cr3t-value-1s3cr3t-value-1 c short") == "a *** b ****** c short")
        #expect(r.redact(Array("x\u{0}s3cr3t-value-1".utf8)) == Array("x\u{0}***".utf8))
        #expect(r.redact("nothing here") == "nothing here")
    }

    @Test func theOldestAreForgottenBeyondCapacity() {
        let r = SecretRedactor()
        for i in 0..<(SecretRedactor.capacity + 5) { r.register("token-number-\(i)") }
        #expect(r.redact("token-number-0") == "token-number-0")
        #expect(r.redact("token-number-\(SecretRedactor.capacity + 4)") == "***")
    }
}
