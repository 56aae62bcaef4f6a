import Foundation
import Testing
@testable import HearthServer

@Suite("Credentials file")
struct CredentialsTests {
    @Test("parses the aws CLI INI format")
    func parse() {
        let text = """
        # comment
        ; another comment
        [default]
        aws_access_key_id = AKIAAAAAAAAAAAAAAAAA
        aws_secret_access_key=secret/with+chars=
        region = us-east-1

        [ dev ]
          aws_access_key_id   =   AKIADEV
        AWS_SECRET_ACCESS_KEY: devsecret
        aws_session_token = tok

        [incomplete]
        aws_access_key_id = AKIAONLYID

        [nested]
        aws_access_key_id = AKIANESTED
        s3 =
          aws_secret_access_key = notthis
        aws_secret_access_key = nestedsecret

        [empty]
        aws_access_key_id =
        aws_secret_access_key = x
        """
        let profiles = CredentialsFile.parse(text)
        #expect(Set(profiles.keys) == ["default", "dev", "nested"])
        #expect(profiles["default"] == AWSCredentials(accessKeyID: "AKIAAAAAAAAAAAAAAAAA", secretAccessKey: "secret/with+chars="))
        #expect(profiles["dev"] == AWSCredentials(accessKeyID: "AKIADEV", secretAccessKey: "devsecret"))
        #expect(profiles["nested"] == AWSCredentials(accessKeyID: "AKIANESTED", secretAccessKey: "nestedsecret"))
    }

    @Test("CRLF line endings, a BOM, keys outside any section, later values win")
    func parseOddities() {
        let text = "\u{FEFF}aws_access_key_id = stray\r\n[p]\r\naws_access_key_id = A1\r\naws_secret_access_key = S1\r\naws_access_key_id = A2\r\n"
        #expect(CredentialsFile.parse(text) == ["p": AWSCredentials(accessKeyID: "A2", secretAccessKey: "S1")])
        #expect(CredentialsFile.parse("") == [:])
        #expect(CredentialsFile.parse("[broken\naws_access_key_id = a\naws_secret_access_key = b\n") == [:])
    }

    @Test("generated keys look like AWS's and are random")
    func generate() {
        var seen = Set<String>()
        for _ in 0..<200 {
            let c = CredentialsFile.generate()
            #expect(c.accessKeyID.count == 20)
            #expect(c.accessKeyID.hasPrefix("AKIA"))
            #expect(c.accessKeyID.allSatisfy { ($0.isASCII && $0.isUppercase) || $0.isNumber })
            #expect(c.secretAccessKey.count == 40)
            #expect(c.secretAccessKey.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "/") })
            seen.insert(c.accessKeyID)
            seen.insert(c.secretAccessKey)
        }
        #expect(seen.count == 400)
    }

    @Test("createIfMissing creates 0600 with 0700 parents, then never overwrites")
    func create() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-creds-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = root + "/a/b/credentials"
        #expect(try CredentialsFile.createIfMissing(path: path))
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        for dir in [root, root + "/a", root + "/a/b"] {
            let mode = try FileManager.default.attributesOfItem(atPath: dir)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o700, "\(dir)")
        }
        let profiles = try CredentialsFile.load(path: path)
        let creds = try #require(profiles["default"])
        #expect(profiles.count == 1)
        #expect(creds.accessKeyID.hasPrefix("AKIA"))
        let before = try String(contentsOfFile: path, encoding: .utf8)

        #expect(try CredentialsFile.createIfMissing(path: path) == false)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == before)

        // An existing file of any content is left alone.
        let other = root + "/other"
        try "[default]\naws_access_key_id = X\naws_secret_access_key = Y\n".write(toFile: other, atomically: true, encoding: .utf8)
        #expect(try CredentialsFile.createIfMissing(path: other) == false)
        #expect(try CredentialsFile.load(path: other)["default"] == AWSCredentials(accessKeyID: "X", secretAccessKey: "Y"))
    }

    @Test("a created file's key pair signs requests the verifier accepts")
    func createdKeysWork() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-creds-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = root + "/credentials"
        _ = try CredentialsFile.createIfMissing(path: path)
        let creds = try #require(try CredentialsFile.load(path: path)["default"])
        let url = URL(string: "http://127.0.0.1:9001/2015-03-31/functions")!
        let headers = SigV4Signer(credentials: creds, region: "us-east-1").sign(method: "GET", url: url, headers: [], body: [])
        let verifier = SigV4Verifier(credentials: Array(try CredentialsFile.load(path: path).values))
        #expect(try verifier.verify(method: "GET", path: "/2015-03-31/functions", query: "", headers: headers, body: []) == creds.accessKeyID)
    }

    @Test("load fails for a missing file")
    func loadMissing() {
        #expect(throws: (any Error).self) { try CredentialsFile.load(path: "/nonexistent/hearth/credentials") }
    }
}
