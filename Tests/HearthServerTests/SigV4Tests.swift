import Foundation
import Testing
@testable import HearthServer

/// A request captured on the wire from the real aws CLI 1.45.11 / boto3 1.43.11 (botocore
/// 1.43.11) against a loopback capture server, signed with the AWS example key pair.
struct Captured: CustomStringConvertible, Sendable {
    var name: String
    var method: String
    var path: String
    var query: String
    var headers: [(String, String)]
    var body: String // base64

    var description: String { name }
    var bodyBytes: [UInt8] { [UInt8](Data(base64Encoded: body)!) }
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var date: Date { SigV4Canonical.parseTimestamp(header("X-Amz-Date")!)! }
    var authorization: String { header("Authorization")! }
    var signedHeaders: [String] {
        let part = authorization.components(separatedBy: "SignedHeaders=")[1]
        return part.prefix { $0 != "," }.split(separator: ";").map(String.init)
    }
    var region: String { authorization.components(separatedBy: "/")[2] }
    func replacingHeader(_ name: String, with value: String) -> [(String, String)] {
        headers.map { $0.0.lowercased() == name.lowercased() ? ($0.0, value) : $0 }
    }
}

enum Fixtures {
    static let accessKey = "AKIDEXAMPLE"
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let credentials = AWSCredentials(accessKeyID: accessKey, secretAccessKey: secret)

    static let captured: [Captured] = [
        Captured(name: "cli list-functions", method: "GET", path: "/2015-03-31/functions", query: "",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("User-Agent", "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/N,b,g,C,D,Z cfg/retry-mode#legacy botocore/1.43.11"), ("X-Amz-Date", "20261123T130155Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=74e4ee591e1ae28ecbb6e135ce38242bc03260d2e1ee836aa5de4043d202a126"), ("amz-sdk-invocation-id", "c49fa7e0-5399-44fe-88c8-ca7603e23296"), ("amz-sdk-request", "attempt=1")],
                 body: ""),
        Captured(name: "cli get-function --qualifier 1", method: "GET", path: "/2015-03-31/functions/fn", query: "Qualifier=1",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("User-Agent", "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/g,b,N,Z,D cfg/retry-mode#legacy botocore/1.43.11"), ("X-Amz-Date", "20261123T130155Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=c3c75f8b10ebf329c0cea9b0cbd500d7683f103699c35016dea84d98795d70c4"), ("amz-sdk-invocation-id", "03f7f24e-f1bb-4a17-93cf-dac6bfe53b0e"), ("amz-sdk-request", "attempt=1")],
                 body: ""),
        Captured(name: "cli get-function fn:prod", method: "GET", path: "/2015-03-31/functions/fn%3Aprod", query: "",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("User-Agent", "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/g,Z,b,D,N cfg/retry-mode#legacy botocore/1.43.11"), ("X-Amz-Date", "20261123T130155Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=10deaa1e9d2d5e0542855f870bbf70018afd61a0db4f5b88bea382dcdef77937"), ("amz-sdk-invocation-id", "9bca88b8-afdb-42e6-a15c-cfb1f0af7d4d"), ("amz-sdk-request", "attempt=1")],
                 body: ""),
        Captured(name: "cli get-function ARN", method: "GET", path: "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Afn", query: "",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("User-Agent", "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/g,b,N,Z,D cfg/retry-mode#legacy botocore/1.43.11"), ("X-Amz-Date", "20261123T130156Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=7aa162684660230832535abb67a5f1ec6db491fbc7635f4f399aa8eec106cd7c"), ("amz-sdk-invocation-id", "d6524b4f-06cf-42ec-91eb-a99aac2a358d"), ("amz-sdk-request", "attempt=1")],
                 body: ""),
        Captured(name: "cli create-function (zip)", method: "POST", path: "/2015-03-31/functions", query: "",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("Content-Type", "application/json"), ("User-Agent", "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/g,Z,b,D,N cfg/retry-mode#legacy botocore/1.43.11"), ("X-Amz-Date", "20261123T130157Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=7b228cc90d90926ee0b9280ee99b2cbaa171a69a3b6f6c4550eb49c264101a80"), ("amz-sdk-invocation-id", "5d7a67d5-78b6-4859-af9a-266c2673824e"), ("amz-sdk-request", "attempt=1"), ("Content-Length", "320")],
                 body: "eyJGdW5jdGlvbk5hbWUiOiAiZm4iLCAiUnVudGltZSI6ICJweXRob24zLjEyIiwgIlJvbGUiOiAiYXJuOmF3czppYW06OjEyMzQ1Njc4OTAxMjpyb2xlL3IiLCAiSGFuZGxlciI6ICJoLmhhbmRsZXIiLCAiQ29kZSI6IHsiWmlwRmlsZSI6ICJVRXNEQkJRQUFBQUFBRHRvZDEzL2VqY2FHd0FBQUJzQUFBQUVBQUFBYUM1d2VXUmxaaUJvWVc1a2JHVnlLR1VzWXlrNklISmxkSFZ5YmlCbENsQkxBUUlVQXhRQUFBQUFBRHRvZDEzL2VqY2FHd0FBQUJzQUFBQUVBQUFBQUFBQUFBQUFBQUNrZ1FBQUFBQm9MbkI1VUVzRkJnQUFBQUFCQUFFQU1nQUFBRDBBQUFBQUFBPT0ifX0="),
        Captured(name: "cli list-functions --function-version ALL", method: "GET", path: "/2015-03-31/functions", query: "FunctionVersion=ALL",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("User-Agent", "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/b,g,N,C,Z,D cfg/retry-mode#legacy botocore/1.43.11"), ("X-Amz-Date", "20261123T130157Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=df274d30f09e3ef64e00aa0ba0a7053da48025f929da8e036a5b26b6ad3da288"), ("amz-sdk-invocation-id", "46bfd3b1-8c4d-49fe-a55a-1c061d40219c"), ("amz-sdk-request", "attempt=1")],
                 body: ""),
        Captured(name: "cli list-versions-by-function --marker 'a b/c+d='", method: "GET", path: "/2015-03-31/functions/fn/versions", query: "Marker=a%20b%2Fc%2Bd%3D&MaxItems=2",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("User-Agent", "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/N,b,Z,g,D cfg/retry-mode#legacy botocore/1.43.11"), ("X-Amz-Date", "20261123T130158Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=471ca25236de2b39c9ecac1434d0a3906f5ff8fb648be196904e8b7746dc4193"), ("amz-sdk-invocation-id", "294e14d9-c194-471c-bd8b-ee07f8507de2"), ("amz-sdk-request", "attempt=1")],
                 body: ""),
        Captured(name: "cli invoke payload", method: "POST", path: "/2015-03-31/functions/fn/invocations", query: "",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("User-Agent", "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/D,b,g,N,Z cfg/retry-mode#legacy botocore/1.43.11"), ("X-Amz-Date", "20261123T130204Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=07dfaa66ec377d39da7915c7654f1f5d5cc4e089d93414408c439ea86c0645b3"), ("amz-sdk-invocation-id", "63efde05-92a1-413d-aead-1cc19f10a7df"), ("amz-sdk-request", "attempt=1"), ("Content-Length", "7")],
                 body: "eyJhIjoxfQ=="),
        Captured(name: "cli invoke fn:prod Event, UTF-8 payload", method: "POST", path: "/2015-03-31/functions/fn%3Aprod/invocations", query: "",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("X-Amz-Invocation-Type", "Event"), ("X-Amz-Log-Type", "None"), ("User-Agent", "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/D,g,b,N,Z cfg/retry-mode#legacy botocore/1.43.11"), ("X-Amz-Date", "20261123T130205Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date;x-amz-invocation-type;x-amz-log-type, Signature=bab3f23b5e0aaf258e8de7eaa7e8855727bf80fa4378e6ce296f2af5403d1446"), ("amz-sdk-invocation-id", "234b595e-87e3-4df7-8aec-1967f2a21795"), ("amz-sdk-request", "attempt=1"), ("Content-Length", "25")],
                 body: "eyJuYW1lIjoiaMOpIHfDtnJsZCDimIMifQ=="),
        Captured(name: "cli get-function $LATEST eu-west-2", method: "GET", path: "/2015-03-31/functions/fn", query: "Qualifier=%24LATEST",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("User-Agent", "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/b,g,Z,D,N cfg/retry-mode#legacy botocore/1.43.11"), ("X-Amz-Date", "20261123T130205Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/eu-west-2/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=500a9f2c406e2365c98489b9c21cfcf76fda479678c04685f3cb54837e35172b"), ("amz-sdk-invocation-id", "0773acbf-6b65-4802-a6ad-b12b5515f875"), ("amz-sdk-request", "attempt=1")],
                 body: ""),
        Captured(name: "cli get-function fn:prod (debug)", method: "GET", path: "/2015-03-31/functions/fn%3Aprod", query: "",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("User-Agent", "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/g,D,b,N,Z cfg/retry-mode#legacy botocore/1.43.11"), ("X-Amz-Date", "20261123T130211Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=80a2df9e1d0864d848878d156da1fced7034051ab6cd2adf0a80e38ead316453"), ("amz-sdk-invocation-id", "b8589bc6-cd43-40bf-a031-183ed1d63983"), ("amz-sdk-request", "attempt=1")],
                 body: ""),
        Captured(name: "boto3 list_functions", method: "GET", path: "/2015-03-31/functions", query: "MaxItems=10",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("User-Agent", "Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/b,Z,N,e,D cfg/retry-mode#legacy Botocore/1.43.11"), ("X-Amz-Date", "20261123T130212Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-west-2/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=5e0a80d80b45fc2d6e6736cfd4de660292d4c17fb796e644a76cd707cbf8c682"), ("amz-sdk-invocation-id", "6a331010-4fdf-4969-bc56-055cadfe0345"), ("amz-sdk-request", "attempt=1")],
                 body: ""),
        Captured(name: "boto3 invoke qualifier + client context", method: "POST", path: "/2015-03-31/functions/fn/invocations", query: "Qualifier=live",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("X-Amz-Client-Context", "eyJhIjoxfQ=="), ("User-Agent", "Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/b,Z,N,e,D cfg/retry-mode#legacy Botocore/1.43.11"), ("X-Amz-Date", "20261123T130212Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-west-2/lambda/aws4_request, SignedHeaders=host;x-amz-client-context;x-amz-date, Signature=1be90f3794022958e5e3335091b0236f13cf043612f3dae78a1fd6493a286793"), ("amz-sdk-invocation-id", "4f535bf2-5ba2-41aa-b262-677b46a92a94"), ("amz-sdk-request", "attempt=1"), ("Content-Length", "13")],
                 body: "eyJrIjpbMSwyLDNdfQ=="),
        Captured(name: "boto3 create_function (zip)", method: "POST", path: "/2015-03-31/functions", query: "",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("Content-Type", "application/json"), ("User-Agent", "Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/b,Z,N,e,D cfg/retry-mode#legacy Botocore/1.43.11"), ("X-Amz-Date", "20261123T130212Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-west-2/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=e2a47480e716d72758dda9a996db0d35d6230d0fdd34357cda847d1ce56487ec"), ("amz-sdk-invocation-id", "16df07b1-9f85-46bf-adbe-d302a760c577"), ("amz-sdk-request", "attempt=1"), ("Content-Length", "320")],
                 body: "eyJGdW5jdGlvbk5hbWUiOiAiZm4iLCAiUnVudGltZSI6ICJweXRob24zLjEyIiwgIlJvbGUiOiAiYXJuOmF3czppYW06OjEyMzQ1Njc4OTAxMjpyb2xlL3IiLCAiSGFuZGxlciI6ICJoLmhhbmRsZXIiLCAiQ29kZSI6IHsiWmlwRmlsZSI6ICJVRXNEQkJRQUFBQUFBRVpvZDEzL2VqY2FHd0FBQUJzQUFBQUVBQUFBYUM1d2VXUmxaaUJvWVc1a2JHVnlLR1VzWXlrNklISmxkSFZ5YmlCbENsQkxBUUlVQXhRQUFBQUFBRVpvZDEzL2VqY2FHd0FBQUJzQUFBQUVBQUFBQUFBQUFBQUFBQUNBQVFBQUFBQm9MbkI1VUVzRkJnQUFBQUFCQUFFQU1nQUFBRDBBQUFBQUFBPT0ifX0="),
        Captured(name: "boto3 create_alias", method: "POST", path: "/2015-03-31/functions/fn/aliases", query: "",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("Content-Type", "application/json"), ("User-Agent", "Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/b,Z,N,e,D cfg/retry-mode#legacy Botocore/1.43.11"), ("X-Amz-Date", "20261123T130212Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-west-2/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=b8aae399c0bccf1e4d0be2c01974e88c7ee6068fdd6a499d9545f5904c75572b"), ("amz-sdk-invocation-id", "fd2320be-7d0b-4ea8-a3da-7ef4c51114dc"), ("amz-sdk-request", "attempt=1"), ("Content-Length", "40")],
                 body: "eyJOYW1lIjogImxpdmUiLCAiRnVuY3Rpb25WZXJzaW9uIjogIjEifQ=="),
        Captured(name: "boto3 delete_function", method: "DELETE", path: "/2015-03-31/functions/fn", query: "",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("User-Agent", "Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/b,Z,N,e,D cfg/retry-mode#legacy Botocore/1.43.11"), ("X-Amz-Date", "20261123T130212Z"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-west-2/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=7eff22bf8e50cdbf840e3d10841c857a0f016a26b17a83e631ca720c40ff02ae"), ("amz-sdk-invocation-id", "76b00461-0fd2-4ddf-8219-8c81f0ed8ebb"), ("amz-sdk-request", "attempt=1"), ("Content-Length", "0")],
                 body: ""),
        Captured(name: "cli session token ap-southeast-2", method: "GET", path: "/2015-03-31/functions/my-fn_1/configuration", query: "Qualifier=7",
                 headers: [("Host", "127.0.0.1:18777"), ("Accept-Encoding", "identity"), ("User-Agent", "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/D,b,Z,g,N cfg/retry-mode#legacy botocore/1.43.11"), ("X-Amz-Date", "20261123T130228Z"), ("X-Amz-Security-Token", "tok/EN+123=="), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/ap-southeast-2/lambda/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=2115272ed9512a238830d2c98353cd8d445af539db76e446bbfaab4c4778b6d0"), ("amz-sdk-invocation-id", "e23f3b76-caf5-434a-be94-1563cbe31713"), ("amz-sdk-request", "attempt=1")],
                 body: ""),
    ]
}

@Suite("SigV4")
struct SigV4Tests {
    let verifier = SigV4Verifier(credentials: [
        AWSCredentials(accessKeyID: "AKIAOTHERKEY00000000", secretAccessKey: "other"),
        Fixtures.credentials,
    ])

    func verify(_ c: Captured, headers: [(String, String)]? = nil, body: [UInt8]? = nil, path: String? = nil, query: String? = nil,
                method: String? = nil, now: Date? = nil, verifier: SigV4Verifier? = nil) -> Result<String, SigV4Error> {
        let v = verifier ?? self.verifier
        return Result { () throws(SigV4Error) -> String in
            try v.verify(method: method ?? c.method, path: path ?? c.path, query: query ?? c.query,
                         headers: headers ?? c.headers, body: body ?? c.bodyBytes, now: now ?? c.date)
        }
    }

    // MARK: AWS SigV4 test-suite vectors

    @Test("get-vanilla known answer (AWS SigV4 test suite)")
    func getVanilla() throws {
        let date = SigV4Canonical.parseTimestamp("20150830T123600Z")!
        let expected = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        let signer = SigV4Signer(credentials: Fixtures.credentials, region: "us-east-1", service: "service")
        let added = signer.sign(method: "GET", url: URL(string: "https://example.amazonaws.com/")!, headers: [], body: [], date: date)
        #expect(added.map(\.0) == ["Host", "X-Amz-Date", "Authorization"])
        #expect(added[0].1 == "example.amazonaws.com")
        #expect(added[1].1 == "20150830T123600Z")
        #expect(added[2].1 == expected)

        let headers = [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z"), ("Authorization", expected)]
        let key = try verifier.verify(method: "GET", path: "/", query: "", headers: headers, body: [], now: date)
        #expect(key == "AKIDEXAMPLE")
        #expect(throws: SigV4Error.signatureMismatch) {
            try verifier.verify(method: "POST", path: "/", query: "", headers: headers, body: [], now: date)
        }
    }

    @Test("get-vanilla-query-order-key-case known answer")
    func getVanillaQueryOrder() throws {
        let date = SigV4Canonical.parseTimestamp("20150830T123600Z")!
        let expected = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        let signer = SigV4Signer(credentials: Fixtures.credentials, region: "us-east-1", service: "service")
        let added = signer.sign(method: "GET", url: URL(string: "https://example.amazonaws.com/?Param2=value2&Param1=value1")!,
                                headers: [("Host", "example.amazonaws.com")], body: [], date: date)
        #expect(added.map(\.0) == ["X-Amz-Date", "Authorization"])
        #expect(added.last?.1 == expected)
        let headers = [("host", "example.amazonaws.com"), ("x-amz-date", "20150830T123600Z"), ("authorization", expected)]
        #expect(try verifier.verify(method: "GET", path: "/", query: "Param2=value2&Param1=value1", headers: headers, body: [], now: date) == "AKIDEXAMPLE")
    }

    // MARK: Captured aws CLI / boto3 requests

    @Test("accepts real aws CLI and boto3 requests", arguments: Fixtures.captured)
    func acceptsCaptured(_ c: Captured) throws {
        #expect(try verify(c).get() == Fixtures.accessKey)
        // Anywhere within ±5 minutes is fine.
        #expect(try verify(c, now: c.date.addingTimeInterval(299)).get() == Fixtures.accessKey)
        #expect(try verify(c, now: c.date.addingTimeInterval(-299)).get() == Fixtures.accessKey)
        // Header names are case-insensitive, order does not matter.
        let shuffled = c.headers.reversed().map { ($0.0.uppercased(), $0.1) }
        #expect(try verify(c, headers: shuffled).get() == Fixtures.accessKey)
    }

    @Test("rejects tampered, wrongly keyed and stale captured requests", arguments: Fixtures.captured)
    func rejectsCaptured(_ c: Captured) throws {
        // Body changed (or added).
        var body = c.bodyBytes
        if body.isEmpty { body = Array("{}".utf8) } else { body[body.count / 2] ^= 0x01 }
        #expect(verify(c, body: body) == .failure(.signatureMismatch))
        #expect(verify(c, body: c.bodyBytes + [0x20]) == .failure(.signatureMismatch))
        // Path, query, method changed.
        #expect(verify(c, path: c.path + "x") == .failure(.signatureMismatch))
        #expect(verify(c, query: c.query.isEmpty ? "Qualifier=2" : c.query + "&x=1") == .failure(.signatureMismatch))
        #expect(verify(c, method: c.method == "GET" ? "DELETE" : "GET") == .failure(.signatureMismatch))
        // A signed header changed.
        #expect(verify(c, headers: c.replacingHeader("Host", with: "127.0.0.1:18778")) == .failure(.signatureMismatch))
        // A forged X-Amz-Content-Sha256 claiming the original body while sending another.
        let forged = c.headers + [("X-Amz-Content-Sha256", SigV4Canonical.sha256Hex(c.bodyBytes))]
        #expect(verify(c, headers: forged, body: body) == .failure(.signatureMismatch))
        // Wrong secret for the same key.
        let wrongSecret = SigV4Verifier(credentials: [AWSCredentials(accessKeyID: Fixtures.accessKey, secretAccessKey: String(repeating: "x", count: 40))])
        #expect(verify(c, verifier: wrongSecret) == .failure(.signatureMismatch))
        // Unknown key.
        let other = SigV4Verifier(credentials: [AWSCredentials(accessKeyID: "AKIAOTHERKEY00000000", secretAccessKey: Fixtures.secret)])
        #expect(verify(c, verifier: other) == .failure(.unknownAccessKey(Fixtures.accessKey)))
        // Six minutes off either way.
        guard case .failure(.stale(let late)) = verify(c, now: c.date.addingTimeInterval(360)) else {
            Issue.record("6 minutes late was accepted"); return
        }
        let ts = c.header("X-Amz-Date")!
        #expect(late.hasPrefix("Signature expired: \(ts) is now earlier than "))
        #expect(late.hasSuffix(" - 5 min.)"))
        guard case .failure(.stale(let early)) = verify(c, now: c.date.addingTimeInterval(-360)) else {
            Issue.record("6 minutes early was accepted"); return
        }
        #expect(early.hasPrefix("Signature not yet current: \(ts) is still later than "))
    }

    @Test("the signer reproduces the aws CLI's and boto3's Authorization byte for byte", arguments: Fixtures.captured)
    func signerMatchesBotocore(_ c: Captured) throws {
        let signed = Set(c.signedHeaders)
        // What the client had when signing: its signed headers (minus the ones the signer makes) plus
        // transport headers the signer must leave unsigned.
        let input = c.headers.filter {
            let name = $0.0.lowercased()
            return (signed.contains(name) && name != "host" && name != "x-amz-date")
                || ["user-agent", "accept-encoding", "content-length"].contains(name)
        }
        let url = URL(string: "http://\(c.header("Host")!)\(c.path)\(c.query.isEmpty ? "" : "?" + c.query)")!
        let signer = SigV4Signer(credentials: Fixtures.credentials, region: c.region)
        let added = signer.sign(method: c.method, url: url, headers: input, body: c.bodyBytes, date: c.date)
        #expect(added.first { $0.0 == "Host" }?.1 == c.header("Host"))
        #expect(added.first { $0.0 == "X-Amz-Date" }?.1 == c.header("X-Amz-Date"))
        #expect(added.first { $0.0 == "Authorization" }?.1 == c.authorization)
    }

    @Test("the aws CLI double-encodes the path: fn%3Aprod is signed as fn%253Aprod")
    func doubleEncoding() {
        #expect(SigV4Canonical.canonicalURI(rawPath: "/2015-03-31/functions/fn%3Aprod") == "/2015-03-31/functions/fn%253Aprod")
        #expect(SigV4Canonical.canonicalURI(rawPath: "/2015-03-31/functions/fn:prod") == "/2015-03-31/functions/fn%3Aprod")
        // Captured with --debug: botocore logged this canonical request.
        let c = Fixtures.captured.first { $0.name == "cli get-function fn:prod (debug)" }!
        let canonical = SigV4Canonical.canonicalRequest(
            method: "GET", canonicalURI: SigV4Canonical.canonicalURI(rawPath: c.path),
            canonicalQuery: SigV4Canonical.canonicalQuery(rawQuery: c.query),
            canonicalHeaders: try! SigV4Canonical.canonicalHeaders(signed: ["host", "x-amz-date"], headers: c.headers).get(),
            signedHeaders: "host;x-amz-date", payloadHash: SigV4Canonical.emptySHA256)
        #expect(canonical == """
            GET
            /2015-03-31/functions/fn%253Aprod

            host:127.0.0.1:18777
            x-amz-date:\(c.header("X-Amz-Date")!)

            host;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
    }

    // MARK: Other botocore shapes

    @Test("Date header instead of X-Amz-Date (botocore, RFC 1123 with -0000)")
    func dateHeader() throws {
        let headers = [("Host", "localhost:9000"), ("Content-Type", "application/json"), ("Date", "Mon, 23 Nov 2026 13:00:00 -0000"),
                       ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/lambda/aws4_request, SignedHeaders=content-type;date;host, Signature=bfd7b6c375a1ab2991cdab54f1793070df2a2d484048d78ce1c74c4a91493a1d")]
        let now = SigV4Canonical.parseTimestamp("20261123T130100Z")!
        let body = Array(#"{"ReservedConcurrentExecutions":1}"#.utf8)
        #expect(try verifier.verify(method: "PUT", path: "/2015-03-31/functions/fn/concurrency", query: "", headers: headers, body: body, now: now) == "AKIDEXAMPLE")
        #expect(throws: SigV4Error.self) {
            try verifier.verify(method: "PUT", path: "/2015-03-31/functions/fn/concurrency", query: "", headers: headers, body: body,
                                now: now.addingTimeInterval(600))
        }
    }

    @Test("X-Amz-Content-Sha256, IPv6 host, repeated and unicode query keys, messy header spacing (botocore)")
    func contentSHA256AndQuery() throws {
        let body = Array(#"{"a": "b"}"#.utf8)
        let headers = [("Host", "[::1]:9000"), ("X-Amz-Content-SHA256", "e47aeff37f2bf09285444b8be9fed1f517d9f8de79d2dd63dd22bd1990716f53"),
                       ("X-Custom", "  a   b  c "), ("Content-Type", "application/json"), ("X-Amz-Date", "20261123T130000Z"),
                       ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-custom, Signature=34cf31019d5fa6f759ace26932442d1cea6ffb883198dcf49edc92db955868b7")]
        let now = SigV4Canonical.parseTimestamp("20261123T130000Z")!
        let path = "/2015-03-31/functions/fn/invocations", query = "b=2&a=%E2%98%83&a=1"
        #expect(try verifier.verify(method: "POST", path: path, query: query, headers: headers, body: body, now: now) == "AKIDEXAMPLE")
        // The declared hash no longer matches what arrived.
        #expect(throws: SigV4Error.signatureMismatch) {
            try verifier.verify(method: "POST", path: path, query: query, headers: headers, body: body + [0x0a], now: now)
        }
        // The signer, given the same inputs, produces the same signature.
        let signer = SigV4Signer(credentials: Fixtures.credentials, region: "us-east-1")
        let added = signer.sign(method: "POST", url: URL(string: "http://[::1]:9000\(path)?\(query)")!,
                                headers: Array(headers.prefix(4).dropFirst()), body: body, date: now)
        #expect(added.first { $0.0 == "Host" }?.1 == "[::1]:9000")
        #expect(added.last?.1 == headers.last?.1)
    }

    @Test("presigned URL (botocore SigV4QueryAuth)")
    func presigned() throws {
        let query = "Qualifier=%24LATEST&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261123%2Fus-east-1%2Flambda%2Faws4_request&X-Amz-Date=20261123T130000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=6ce33f9d38417be3d700d4826317b30f602fb529507f63fabe4518544bd6cb71"
        let path = "/2015-03-31/functions/fn%3Aprod"
        let headers = [("Host", "127.0.0.1:9000")]
        let date = SigV4Canonical.parseTimestamp("20261123T130000Z")!
        #expect(try verifier.verify(method: "GET", path: path, query: query, headers: headers, body: [], now: date.addingTimeInterval(200)) == "AKIDEXAMPLE")
        #expect(throws: SigV4Error.signatureMismatch) {
            try verifier.verify(method: "GET", path: path, query: query.replacingOccurrences(of: "%24LATEST", with: "1"), headers: headers, body: [], now: date)
        }
        let expired = Result { () throws(SigV4Error) in
            try verifier.verify(method: "GET", path: path, query: query, headers: headers, body: [], now: date.addingTimeInterval(301))
        }
        guard case .failure(.stale) = expired else { Issue.record("expired presigned URL accepted: \(expired)"); return }
        // Both query auth and an Authorization header.
        #expect(throws: SigV4Error.self) {
            try verifier.verify(method: "GET", path: path, query: query, headers: headers + [("Authorization", "AWS4-HMAC-SHA256 x")], body: [], now: date)
        }
    }

    // MARK: Round trips through SigV4Signer

    @Test("signer → verifier round trips", arguments: [
        ("GET", "http://127.0.0.1:9001/2015-03-31/functions", ""),
        ("GET", "http://localhost:9001/2015-03-31/functions/my-fn?Qualifier=%24LATEST&Marker=a%20b%2Bc", ""),
        ("POST", "http://localhost/2015-03-31/functions/fn:alias/invocations", #"{"hello":"wörld"}"#),
        ("POST", "http://localhost/2015-03-31/functions/fn%3Aalias/invocations?x=%E2%98%83", "payload"),
        ("PUT", "https://hearth.example:443/2017-10-31/functions/fn/concurrency", #"{"ReservedConcurrentExecutions":3}"#),
        ("DELETE", "http://[::1]:8080/2015-03-31/functions/fn/aliases/live", ""),
        ("GET", "http://localhost:9001/2015-03-31/functions/fn/../fn//versions/", ""),
    ])
    func roundTrip(method: String, urlString: String, body: String) throws {
        let url = URL(string: urlString)!
        let components = URLComponents(url: url, resolvingAgainstBaseURL: false)!
        let date = Date(timeIntervalSince1970: 1_790_000_000)
        let signer = SigV4Signer(credentials: Fixtures.credentials, region: "eu-central-1")
        let given = [("Content-Type", "application/json"), ("X-Amz-Invocation-Type", "RequestResponse"), ("User-Agent", "hearth/1"),
                     ("Content-Length", String(body.utf8.count))]
        let headers = given + signer.sign(method: method, url: url, headers: given, body: Array(body.utf8), date: date)
        if urlString.hasPrefix("https://hearth.example:443") {
            #expect(headers.first { $0.0 == "Host" }?.1 == "hearth.example") // default port left out, like botocore
        }
        let key = try verifier.verify(method: method, path: components.percentEncodedPath, query: components.percentEncodedQuery ?? "",
                                      headers: headers + [("Accept-Encoding", "gzip")] /* unsigned extras are fine */,
                                      body: Array(body.utf8), now: date.addingTimeInterval(30))
        #expect(key == "AKIDEXAMPLE")
        #expect(throws: SigV4Error.signatureMismatch) {
            try verifier.verify(method: method, path: components.percentEncodedPath, query: components.percentEncodedQuery ?? "",
                                headers: headers.map { $0.0 == "X-Amz-Invocation-Type" ? ($0.0, "Event") : $0 },
                                body: Array(body.utf8), now: date)
        }
    }

    @Test("signer honours a given X-Amz-Content-Sha256; UNSIGNED-PAYLOAD only passes without a body")
    func payloadHashHeader() throws {
        let signer = SigV4Signer(credentials: Fixtures.credentials, region: "us-east-1")
        let url = URL(string: "http://localhost:9001/2015-03-31/functions/fn/invocations")!
        let body = Array("{}".utf8)
        let date = Date(timeIntervalSince1970: 1_790_000_000)
        let withHash = [("X-Amz-Content-Sha256", SigV4Canonical.sha256Hex(body))]
        let h1 = withHash + signer.sign(method: "POST", url: url, headers: withHash, body: body, date: date)
        #expect(try verifier.verify(method: "POST", path: url.path, query: "", headers: h1, body: body, now: date) == "AKIDEXAMPLE")

        let unsigned = [("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")]
        let h2 = unsigned + signer.sign(method: "POST", url: url, headers: unsigned, body: body, date: date)
        #expect(throws: SigV4Error.signatureMismatch) {
            try verifier.verify(method: "POST", path: url.path, query: "", headers: h2, body: body, now: date)
        }
        let h3 = unsigned + signer.sign(method: "POST", url: url, headers: unsigned, body: [], date: date)
        #expect(try verifier.verify(method: "POST", path: url.path, query: "", headers: h3, body: [], now: date) == "AKIDEXAMPLE")
    }

    // MARK: Malformed and missing

    @Test("missing and malformed authentication")
    func malformed() {
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        func check(_ headers: [(String, String)], query: String = "") -> SigV4Error? {
            do {
                _ = try verifier.verify(method: "GET", path: "/", query: query, headers: [("Host", "h")] + headers, body: [], now: now)
                return nil
            } catch { return error }
        }
        let ts = SigV4Canonical.timestamp(now)
        let day = String(ts.prefix(8))
        let good = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\(day)/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + String(repeating: "0", count: 64)
        #expect(check([]) == .missingAuthentication)
        #expect(check([("X-Amz-Date", ts)]) == .missingAuthentication)
        #expect(check([("X-Amz-Date", ts), ("Authorization", good)]) == .signatureMismatch)
        #expect(check([("Authorization", good)])?.errorType == "IncompleteSignatureException")             // no date at all
        #expect(check([("X-Amz-Date", "2026-11-23T13:00:00Z"), ("Authorization", good)])?.errorType == "IncompleteSignatureException")
        #expect(check([("X-Amz-Date", "20261323T130000Z"), ("Authorization", good)])?.errorType == "IncompleteSignatureException")
        #expect(check([("X-Amz-Date", ts), ("Authorization", "Bearer abc")])?.errorType == "IncompleteSignatureException")
        #expect(check([("X-Amz-Date", ts), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\(day)/us-east-1/lambda/aws4_request")])
                    == .malformed("Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\(day)/us-east-1/lambda/aws4_request"))
        #expect(check([("X-Amz-Date", ts), ("Authorization", good.replacingOccurrences(of: "aws4_request", with: "aws5_request"))])?.errorType == "IncompleteSignatureException")
        #expect(check([("X-Amz-Date", ts), ("Authorization", good.replacingOccurrences(of: "host;", with: ""))])?.errorType == "IncompleteSignatureException")
        #expect(check([("X-Amz-Date", ts), ("Authorization", good.replacingOccurrences(of: day, with: "20200101"))])?.errorType == "IncompleteSignatureException")
        #expect(check([("X-Amz-Date", ts), ("Authorization", good), ("Authorization", good)])?.errorType == "IncompleteSignatureException")
        // Unknown key wins over a bad signature; a short or non-hex signature is a mismatch.
        #expect(check([("X-Amz-Date", ts), ("Authorization", good.replacingOccurrences(of: "AKIDEXAMPLE", with: "AKIANOBODY"))]) == .unknownAccessKey("AKIANOBODY"))
        #expect(check([("X-Amz-Date", ts), ("Authorization", good.replacingOccurrences(of: "Signature=00", with: "Signature=zz"))]) == .signatureMismatch)
        #expect(check([("X-Amz-Date", ts), ("Authorization", good + "00")]) == .signatureMismatch)
        // A signed header the request does not carry.
        #expect(check([("X-Amz-Date", ts), ("Authorization", good.replacingOccurrences(of: "x-amz-date", with: "x-amz-date;x-amz-target"))]) == .signatureMismatch)
        #expect(check([], query: "X-Amz-Algorithm=AWS4-HMAC-SHA256")?.errorType == "IncompleteSignatureException")
    }

    @Test("error types, messages and statuses")
    func errorMapping() {
        #expect(SigV4Error.missingAuthentication.errorType == "MissingAuthenticationTokenException")
        #expect(SigV4Error.missingAuthentication.message == "Missing Authentication Token")
        #expect(SigV4Error.missingAuthentication.httpStatus == 403)
        #expect(SigV4Error.unknownAccessKey("AKIA").errorType == "UnrecognizedClientException")
        #expect(SigV4Error.unknownAccessKey("AKIA").message == "The security token included in the request is invalid.")
        #expect(SigV4Error.signatureMismatch.errorType == "InvalidSignatureException")
        #expect(SigV4Error.signatureMismatch.message == "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
        #expect(SigV4Error.signatureMismatch.httpStatus == 403)
        #expect(SigV4Error.stale("Signature expired: x").errorType == "InvalidSignatureException")
        #expect(SigV4Error.stale("Signature expired: x").message == "Signature expired: x")
        #expect(SigV4Error.malformed("m").errorType == "IncompleteSignatureException")
        #expect(SigV4Error.malformed("m").httpStatus == 400)
    }

    @Test("stale message matches AWS's wording")
    func staleMessage() throws {
        let c = Fixtures.captured[0]
        let result = verify(c, now: SigV4Canonical.parseTimestamp("20261123T131000Z")!)
        #expect(result == .failure(.stale("Signature expired: 20261123T130155Z is now earlier than 20261123T130500Z (20261123T131000Z - 5 min.)")))
    }

    // MARK: Canonical pieces

    @Test("canonical query: decode, re-encode with the unreserved set, sort by key then value")
    func canonicalQuery() {
        #expect(SigV4Canonical.canonicalQuery(rawQuery: "") == "")
        #expect(SigV4Canonical.canonicalQuery(rawQuery: "b=2&a=2&a=1&c") == "a=1&a=2&b=2&c=")
        #expect(SigV4Canonical.canonicalQuery(rawQuery: "Marker=a%20b%2Fc%2Bd%3D") == "Marker=a%20b%2Fc%2Bd%3D")
        #expect(SigV4Canonical.canonicalQuery(rawQuery: "k=a b/c:d~e") == "k=a%20b%2Fc%3Ad~e")
        #expect(SigV4Canonical.canonicalQuery(rawQuery: "q=%e2%98%83&Q=1") == "Q=1&q=%E2%98%83")
        #expect(SigV4Canonical.canonicalQuery(rawQuery: "a=1&X-Amz-Signature=ff", excluding: ["X-Amz-Signature"]) == "a=1")
        #expect(SigV4Canonical.canonicalQuery(rawQuery: "p=100%") == "p=100%25")
    }

    @Test("canonical URI: dot segments and empty segments removed, then encoded again")
    func canonicalURI() {
        #expect(SigV4Canonical.canonicalURI(rawPath: "") == "/")
        #expect(SigV4Canonical.canonicalURI(rawPath: "/") == "/")
        #expect(SigV4Canonical.canonicalURI(rawPath: "//") == "/")
        #expect(SigV4Canonical.canonicalURI(rawPath: "//example//") == "/example/")
        #expect(SigV4Canonical.canonicalURI(rawPath: "/example/..") == "/")
        #expect(SigV4Canonical.canonicalURI(rawPath: "/a/./b/../c") == "/a/c")
        #expect(SigV4Canonical.canonicalURI(rawPath: "/-._~0aZ") == "/-._~0aZ")
        #expect(SigV4Canonical.canonicalURI(rawPath: "/a b/ü") == "/a%20b/%C3%BC")
        #expect(SigV4Canonical.canonicalURI(rawPath: "/f%24LATEST") == "/f%2524LATEST")
    }

    @Test("header values trimmed and inner whitespace collapsed; repeated headers joined with commas")
    func canonicalHeaders() throws {
        #expect(SigV4Canonical.trimAll("  a   b \t c  ") == "a b c")
        let text = try SigV4Canonical.canonicalHeaders(signed: ["host", "x-a"], headers: [("X-A", " 1 "), ("Host", "h"), ("x-a", "2  3")]).get()
        #expect(text == "host:h\nx-a:1,2 3\n")
    }

    @Test("timestamps")
    func timestamps() {
        #expect(SigV4Canonical.timestamp(Date(timeIntervalSince1970: 0)) == "19700101T000000Z")
        #expect(SigV4Canonical.timestamp(Date(timeIntervalSince1970: 1_440_938_160.9)) == "20150830T123600Z")
        #expect(SigV4Canonical.timestamp(Date(timeIntervalSince1970: 951_782_400)) == "20000229T000000Z")
        #expect(SigV4Canonical.parseTimestamp("20150830T123600Z") == Date(timeIntervalSince1970: 1_440_938_160))
        for bad in ["20150830T123600", "20150830 123600Z", "20150230T000000Z", "20151301T000000Z", "20150830T246000Z", "2015083OT123600Z", ""] {
            #expect(SigV4Canonical.parseTimestamp(bad) == nil, "\(bad)")
        }
        for t in stride(from: -86_400.0 * 800, to: 86_400.0 * 40_000, by: 86_400.0 * 37 + 3_661) {
            let date = Date(timeIntervalSince1970: t)
            #expect(SigV4Canonical.parseTimestamp(SigV4Canonical.timestamp(date)) == date)
        }
        #expect(SigV4Canonical.parseHTTPDate("Sun, 30 Aug 2015 12:36:00 GMT") == Date(timeIntervalSince1970: 1_440_938_160))
        #expect(SigV4Canonical.parseHTTPDate("Mon, 23 Nov 2026 13:00:00 -0000") == SigV4Canonical.parseTimestamp("20261123T130000Z"))
        #expect(SigV4Canonical.parseHTTPDate("yesterday") == nil)
    }
}
