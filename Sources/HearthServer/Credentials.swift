import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An access key pair.
public struct AWSCredentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String

    public init(accessKeyID: String, secretAccessKey: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }
}

public struct CredentialsFileError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

/// The aws CLI's shared credentials file (`~/.aws/credentials` format).
public enum CredentialsFile {
    /// Parses the aws CLI INI format: `[profile]` sections, `aws_access_key_id = …`,
    /// `aws_secret_access_key = …` (`=` or `:`; key names case-insensitive, like Python's
    /// configparser), comments (`#`, `;`), blank lines; other keys and indented continuation
    /// lines are ignored. Returns profile name → credentials; profiles missing either key are skipped.
    public static func parse(_ text: String) -> [String: AWSCredentials] {
        var sections: [String: (id: String?, secret: String?)] = [:]
        var current: String?
        var inOption = false
        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }
        for rawLine in body.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            // An indented line right after an option continues that option's value (nested
            // settings such as `s3 =\n  max_concurrent_requests = 10`).
            if let first = rawLine.first, first == " " || first == "\t", inOption { continue }
            if line.hasPrefix("[") {
                guard let close = line.lastIndex(of: "]") else { current = nil; inOption = false; continue }
                let name = line[line.index(after: line.startIndex)..<close].trimmingCharacters(in: .whitespaces)
                current = name
                inOption = false
                if sections[name] == nil { sections[name] = (nil, nil) }
                continue
            }
            guard let section = current,
                  let separator = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else { inOption = false; continue }
            inOption = true
            let key = line[..<separator].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: separator)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "aws_access_key_id": sections[section]?.id = value
            case "aws_secret_access_key": sections[section]?.secret = value
            default: break
            }
        }
        var result: [String: AWSCredentials] = [:]
        for (name, entry) in sections {
            if let id = entry.id, !id.isEmpty, let secret = entry.secret, !secret.isEmpty {
                result[name] = AWSCredentials(accessKeyID: id, secretAccessKey: secret)
            }
        }
        return result
    }

    public static func load(path: String) throws -> [String: AWSCredentials] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let text = String(data: data, encoding: .utf8) else {
            throw CredentialsFileError(path: path, reason: "not UTF-8 text")
        }
        return parse(text)
    }

    /// A fresh key pair: access key id `AKIA` + 16 upper-case alphanumerics, secret 40 base64
    /// characters (30 random bytes), both from the system CSPRNG.
    public static func generate() -> AWSCredentials {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let id = "AKIA" + String((0..<16).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
        let secretBytes = (0..<30).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return AWSCredentials(accessKeyID: id, secretAccessKey: Data(secretBytes).base64EncodedString())
    }

    /// The file text for one `[default]` profile.
    public static func render(_ credentials: AWSCredentials, profile: String = "default") -> String {
        """
        # Hearth API credentials (aws CLI format). Use with AWS_SHARED_CREDENTIALS_FILE or copy into ~/.aws/credentials.
        [\(profile)]
        aws_access_key_id = \(credentials.accessKeyID)
        aws_secret_access_key = \(credentials.secretAccessKey)

        """
    }

    /// Creates the file with a fresh `[default]` key pair and mode 0600 when it is missing
    /// (missing parent directories are created 0700). Returns true when it created it.
    /// Never overwrites: the file is created with `O_CREAT|O_EXCL`.
    public static func createIfMissing(path: String) throws -> Bool {
        if FileManager.default.fileExists(atPath: path) { return false }
        try makeParents(of: path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            let code = errno
            if code == EEXIST { return false }
            throw CredentialsFileError(path: path, reason: "cannot create: \(String(cString: strerror(code)))")
        }
        var ok = fchmod(fd, 0o600) == 0
        let bytes = Array(render(generate()).utf8)
        var written = 0
        while ok, written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                ok = false
            } else {
                written += n
            }
        }
        let code = errno
        if ok { ok = fsync(fd) == 0 }
        close(fd)
        guard ok else {
            unlink(path)
            throw CredentialsFileError(path: path, reason: "cannot write: \(String(cString: strerror(code)))")
        }
        return true
    }

    private static func makeParents(of path: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        guard !parent.isEmpty, parent != "/" else { return }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw CredentialsFileError(path: path, reason: "\(parent) is not a directory")
            }
            return
        }
        try makeParents(of: parent)
        if mkdir(parent, 0o700) != 0 {
            let code = errno
            if code != EEXIST {
                throw CredentialsFileError(path: path, reason: "cannot create \(parent): \(String(cString: strerror(code)))")
            }
        } else {
            _ = chmod(parent, 0o700)
        }
    }
}
