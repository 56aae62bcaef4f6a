import Foundation
import Synchronization

/// What the HTTP triggers learn from the daemon once it listens: the port their URLs name, and
/// the verifier AWS_IAM Function URLs check signatures with (always the state directory's
/// credentials, even under `--auth none`: the URL's owner asked for signed requests; ADR 0013).
/// Thread-safe.
public final class TriggerSettings: Sendable {
    private struct State {
        var port = 9001
        var iamVerifier: SigV4Verifier?
    }

    private let state = Mutex(State())

    public init() {}

    public func configure(port: Int, iamVerifier: SigV4Verifier?) {
        state.withLock { $0 = State(port: port, iamVerifier: iamVerifier) }
    }

    var port: Int { state.withLock { $0.port } }
    var iamVerifier: SigV4Verifier? { state.withLock { $0.iamVerifier } }

    /// `http://<url-id>.lambda-url.<region>.localhost:<port>/`
    func functionURL(id: String, region: String) -> String { "http://\(id).lambda-url.\(region).localhost:\(port)/" }

    /// `http://<api-id>.execute-api.localhost:<port>`
    func apiEndpoint(id: String) -> String { "http://\(id).execute-api.localhost:\(port)" }

    /// A fresh id of `count` lowercase alphanumerics (url-ids are 32, API and route ids 7–10).
    static func newID(_ count: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<count).map { _ in alphabet.randomElement()! })
    }
}
