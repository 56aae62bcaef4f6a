/// Errors of Hearth's own making, by who must act: the user (`usage`) or the host (`setup`).
public enum HearthError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Bad input: a flag, a path, a zip. Exit status 2.
    case usage(String)
    /// The host or Hearth could not do something it needed to. Exit status 2.
    case setup(String)

    public var description: String {
        switch self {
        case .usage(let message), .setup(let message): return message
        }
    }
}
