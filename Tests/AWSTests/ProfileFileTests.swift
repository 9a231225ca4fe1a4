// The shared config/credentials parser against the rules the AWS SDKs share (their common parser test suite),
// and its errors: file and line, never the line's text.
import Testing
@testable import AWS

@Suite struct ProfileFileTests {
    func config(_ text: String) throws -> [String: [String: String]] {
        try AWSProfileFile.parse(text, path: "/home/u/.aws/config", kind: .config).profiles
    }

    func credentials(_ text: String) throws -> [String: [String: String]] {
        try AWSProfileFile.parse(text, path: "/home/u/.aws/credentials", kind: .credentials).profiles
    }

    func problems(_ text: String, kind: AWSProfileFile.Kind = .config) -> [String] {
        do {
            _ = try AWSProfileFile.parse(text, path: "/p/config", kind: kind)
            return []
        } catch { return error.problems }
    }

    @Test func sectionsAndProperties() throws {
        #expect(try config("") == [:])
        #expect(try config("[profile foo]") == ["foo": [:]])
        #expect(try config("[profile foo]\r\nname = value\nName2=val=ue") == ["foo": ["name": "value", "name2": "val=ue"]])
        #expect(try config("[profile \tfoo \t]\nname \t=  \tvalue \t\nempty =") == ["foo": ["name": "value", "empty": ""]])
        #expect(try config("[profile\tfoo]") == ["foo": [:]])
        #expect(try config("[   profile foo    ]\nname = value") == ["foo": ["name": "value"]])
        #expect(try credentials("[foo]\naws_access_key_id = AKID\n[  bar  ]") == ["foo": ["aws_access_key_id": "AKID"], "bar": [:]])
        #expect(try config("[profile a:b/c_d%e.f@g+h-i]") == ["a:b/c_d%e.f@g+h-i": [:]])
    }

    @Test func namesThatAreNotProfilesAreIgnoredNotErrors() throws {
        #expect(try config("[profile in valid]\nname = value\n[profile foo!bar]\nx = 1\n[profile ok]\ny = 2") == ["ok": ["y": "2"]])
        #expect(try config("[foo]\nname = value") == [:], "config sections need the profile prefix")
        #expect(try config("[profilefoo]\nname = value\n[profile bar]") == ["bar": [:]])
        #expect(try credentials("[profile foo]\nname = value") == [:], "credentials sections have no prefix")
        #expect(try config("[sso-session corp]\nsso_region = eu-west-1\n[profile dev]") == ["dev": [:]])
        #expect(try config("[profile foo]\nin valid = value\nok = 1") == ["foo": ["ok": "1"]])
    }

    @Test func comments() throws {
        #expect(try config("# c\n; c\n[profile foo] # c\nname = value # c with # sign") == ["foo": ["name": "value"]])
        #expect(try config("[profile foo];\n[profile bar]# pound\nname = value ;") == ["foo": [:], "bar": ["name": "value"]])
        // Only after white space: a `;` or `#` inside a value (a secret key may hold neither, a URL may) is kept.
        #expect(try config("[profile foo]\nname = value; x\nname2 = value# y") == ["foo": ["name": "value; x", "name2": "value# y"]])
        #expect(try config("[profile foo]\n   # an indented comment\nname = v") == ["foo": ["name": "v"]])
    }

    @Test func continuationsAndSubProperties() throws {
        #expect(try config("[profile foo]\nname = value\n -continued\n \t -and-continued \t") == ["foo": ["name": "value\n-continued\n-and-continued"]])
        #expect(try config("[profile foo]\nname = value\n -continued # not a comment") == ["foo": ["name": "value\n-continued # not a comment"]])
        #expect(try config("[profile foo]\ns3 =\n max_concurrent_requests = 20\n\t \n addressing_style = path")
                == ["foo": ["s3": "\nmax_concurrent_requests = 20\naddressing_style = path"]])
    }

    @Test func repeatsMergeAndTheLastValueWins() throws {
        #expect(try config("[profile foo]\nname = a\n[profile foo]\nName = b\nother = c") == ["foo": ["name": "b", "other": "c"]])
        #expect(try config("[profile default]\na = 1\n[default]\nb = 2") == ["default": ["a": "1"]])
        #expect(try config("[default]\nb = 2\n[profile default]\na = 1") == ["default": ["a": "1"]])
        #expect(try config("[default]\nb = 2") == ["default": ["b": "2"]])
    }

    @Test func errorsNameTheFileAndTheLine() {
        #expect(problems("name = value") == ["/p/config line 1: expected a profile definition"])
        #expect(problems("[profile foo") == ["/p/config line 1: profile definition must end with ']'"])
        #expect(problems("[profile foo]\n= value") == ["/p/config line 2: property did not have a name"])
        #expect(problems("[profile foo]\n\nkey : value") == ["/p/config line 3: expected an '=' sign defining a property"])
        #expect(problems(" -continued") == ["/p/config line 1: expected a profile definition"])
        #expect(problems("[profile foo]\n -continued") == ["/p/config line 2: expected a property definition, found a continuation line"])
        #expect(problems("[profile foo]\nname = v\n[profile foo]\n -continued")
                == ["/p/config line 4: expected a property definition, found a continuation line"])
        #expect(problems("[profile foo]\ns3 =\n invalid") == ["/p/config line 3: expected an '=' sign defining a sub-property"])
        #expect(problems("[profile foo]\ns3 =\n = value") == ["/p/config line 3: sub-property did not have a name"])
        #expect(problems("[profile foo] trailing") == ["/p/config line 1: unexpected text after the profile definition's ']'"])
        // Every problem at once.
        #expect(problems("[profile a]\nx\n[profile b\ny : z").count == 3)
    }

    @Test func aBrokenLineWithASecretIsReportedWithoutTheSecret() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYPROFILEKEY"
        let found = problems("[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key \(secret)", kind: .credentials)
        #expect(found == ["/p/config line 3: expected an '=' sign defining a property"])
        #expect(!found.joined().contains(secret))
        #expect(!found.joined().contains("AKIDEXAMPLE"))
    }
}
