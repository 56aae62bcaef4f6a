#if canImport(Glibc)
import Glibc
#endif

/// The text format of `seccomp/<arch>.policy` (described at the top of each file):
///
///     arch x86_64
///     default EPERM
///     newer ENOSYS
///     allow read 0  # why
///     allow socket 41 if arg0 == 2 and arg1 & 0xf == 1  # why
///     enosys clone3 435  # why
///     deny mount 165  # why
extension SeccompPolicy {
    /// The errno names a policy may use.
    static let errnoNames: [String: Int32] = ["EPERM": EPERM, "ENOSYS": ENOSYS, "EACCES": EACCES, "EINVAL": EINVAL]

    public init(parsing text: String) throws(SeccompPolicyError) {
        var architecture: Architecture?
        var defaultErrno: Int32?
        var newerErrno: Int32?
        var rules: [Rule] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            let (code, comment) = Self.splitComment(rawLine)
            let words = code.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let keyword = words.first else { continue }
            switch keyword {
            case "arch":
                guard words.count == 2, let arch = Architecture(rawValue: words[1]) else {
                    throw .syntax(line: line, "expected `arch x86_64|aarch64`, got \"\(code)\"")
                }
                architecture = arch
            case "default", "newer":
                guard words.count == 2, let value = Self.errnoNames[words[1]] else {
                    throw .syntax(line: line, "expected `\(keyword) ERRNO` (\(Self.errnoNames.keys.sorted().joined(separator: ", "))), got \"\(code)\"")
                }
                if keyword == "default" { defaultErrno = value } else { newerErrno = value }
            case "allow", "deny", "enosys":
                rules.append(try Self.parseRule(words, comment: comment, line: line))
            default:
                throw .syntax(line: line, "unknown keyword \"\(keyword)\"")
            }
        }
        guard let architecture else { throw .invalid("no `arch` line") }
        guard let defaultErrno else { throw .invalid("no `default` line") }
        guard let newerErrno else { throw .invalid("no `newer` line") }
        self.init(architecture: architecture, defaultErrno: defaultErrno, newerErrno: newerErrno, rules: rules)
    }

    private static func splitComment(_ line: Substring) -> (code: String, comment: String) {
        guard let hash = line.firstIndex(of: "#") else { return (String(line), "") }
        let comment = line[line.index(after: hash)...].drop { $0 == " " }
        return (String(line[..<hash]), String(comment.reversed().drop { $0 == " " }.reversed()))
    }

    private static func parseRule(_ words: [String], comment: String, line: Int) throws(SeccompPolicyError) -> Rule {
        guard words.count >= 3 else { throw .syntax(line: line, "expected `\(words[0]) NAME NUMBER`") }
        let name = words[1]
        guard name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }), name.first?.isLetter == true else {
            throw .syntax(line: line, "bad system call name \"\(name)\"")
        }
        guard let number = Int32(words[2]), number >= 0, number < 0x4000_0000 else {
            throw .syntax(line: line, "bad system call number \"\(words[2])\" for \(name)")
        }
        let action: Action = switch words[0] {
        case "allow": .allow
        case "enosys": .errno(ENOSYS)
        default: .deny
        }
        var conditions: [Condition] = []
        if words.count > 3 {
            guard words[3] == "if" else { throw .syntax(line: line, "expected `if` after \(name) \(number), got \"\(words[3])\"") }
            var rest = Array(words[4...])
            while true {
                let condition: Condition
                (condition, rest) = try parseCondition(rest, line: line)
                conditions.append(condition)
                if rest.isEmpty { break }
                guard rest.first == "and", rest.count > 1 else {
                    throw .syntax(line: line, "expected `and CONDITION`, got \"\(rest.joined(separator: " "))\"")
                }
                rest.removeFirst()
            }
        }
        if action == .allow, comment.isEmpty {
            throw .syntax(line: line, "allow \(name) needs a comment saying why")
        }
        return Rule(name: name, number: number, action: action, conditions: conditions, reason: comment)
    }

    /// `argN OP VALUE` or `argN & MASK == VALUE`; returns the condition and the words after it.
    private static func parseCondition(_ words: [String], line: Int) throws(SeccompPolicyError) -> (Condition, [String]) {
        guard let first = words.first, first.hasPrefix("arg"), let argument = Int(first.dropFirst(3)), (0...5).contains(argument) else {
            throw .syntax(line: line, "expected arg0…arg5, got \"\(words.first ?? "end of line")\"")
        }
        if words.count >= 5, words[1] == "&" {
            guard let mask = parseNumber(words[2]), words[3] == "==", let value = parseNumber(words[4]) else {
                throw .syntax(line: line, "expected `\(first) & MASK == VALUE`, got \"\(words.prefix(5).joined(separator: " "))\"")
            }
            guard value & ~mask == 0 else { throw .syntax(line: line, "value \(words[4]) has bits outside mask \(words[2])") }
            return (Condition(argument: argument, op: .eq, mask: mask, value: value), Array(words.dropFirst(5)))
        }
        guard words.count >= 3, let op = Condition.Operator(rawValue: words[1]), let value = parseNumber(words[2]) else {
            throw .syntax(line: line, "expected `\(first) OP VALUE`, got \"\(words.prefix(3).joined(separator: " "))\"")
        }
        return (Condition(argument: argument, op: op, value: value), Array(words.dropFirst(3)))
    }

    private static func parseNumber(_ text: String) -> UInt64? {
        text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
    }
}
