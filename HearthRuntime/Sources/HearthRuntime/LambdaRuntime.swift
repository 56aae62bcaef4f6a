#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// The Lambda runtime loop for Swift functions:
///
/// ```swift
/// import HearthRuntime
///
/// struct Greeting: Codable { var name: String }
/// struct Reply: Codable { var message: String }
///
/// @main struct Hello {
///     static func main() async {
///         await LambdaRuntime.run { (event: Greeting, context: LambdaContext) in
///             Reply(message: "hello \(event.name) from \(context.functionName)")
///         }
///     }
/// }
/// ```
///
/// The loop asks for the next invocation (`GET /2018-06-01/runtime/invocation/next`), runs the
/// handler, and posts its result (`…/response`) or its error (`…/error`, with `errorType`
/// the Swift type of the error and `errorMessage` its description). An error thrown before the
/// first invocation (from `initialize`) goes to `/init/error`, and the process exits.
public enum LambdaRuntime {
    static let apiPrefix = "/2018-06-01/runtime"

    /// Runs a handler over `Decodable` events and `Encodable` responses (JSON), forever.
    public static func run<Event: Decodable & Sendable, Response: Encodable & Sendable>(
        initialize: () async throws -> Void = {},
        _ handler: @escaping @Sendable (Event, LambdaContext) async throws -> Response
    ) async -> Never {
        await runBytes(initialize: initialize) { bytes, context in
            let event: Event
            do {
                event = try JSONDecoder().decode(Event.self, from: Data(bytes))
            } catch {
                throw EventDecodingError(message: "cannot decode the event as \(Event.self): \(error)")
            }
            let response = try await handler(event, context)
            return Array(try JSONEncoder().encode(response))
        }
    }

    /// Runs a handler over raw event and response bytes, forever.
    public static func runBytes(
        initialize: () async throws -> Void = {},
        _ handler: @escaping @Sendable ([UInt8], LambdaContext) async throws -> [UInt8]
    ) async -> Never {
        await loop(initialize: initialize) { client, event, context in
            do {
                let response = try await handler(event, context)
                try client.postResponse(requestID: context.requestID, body: response)
            } catch let error as RuntimeClientError {
                throw error
            } catch {
                try client.postError(requestID: context.requestID, error: error)
            }
        }
    }

    /// Runs a streaming handler (Lambda's response streaming): what it writes reaches the
    /// caller as it is written; an error thrown midway ends the stream with Lambda's error trailers.
    public static func runStreaming(
        initialize: () async throws -> Void = {},
        _ handler: @escaping @Sendable ([UInt8], LambdaContext, ChunkWriter) async throws -> Void
    ) async -> Never {
        await loop(initialize: initialize) { client, event, context in
            try await client.postStreamingResponse(requestID: context.requestID) { writer in
                try await handler(event, context, writer)
            }
        }
    }

    private static func loop(
        initialize: () async throws -> Void,
        _ invoke: (RuntimeClient, [UInt8], LambdaContext) async throws -> Void
    ) async -> Never {
        // Logs reach the invocation they belong to: line-buffer stdout even when it is a pipe.
        setvbuf(stdout, nil, _IOLBF, 0)
        let environment = ProcessInfo.processInfo.environment
        let client: RuntimeClient
        do {
            client = try RuntimeClient(endpoint: RuntimeAPIEndpoint.fromEnvironment(environment), environment: environment)
        } catch {
            fail("hearth-runtime: \(error)")
        }
        do {
            try await initialize()
        } catch {
            do { try client.postInitError(error) } catch { fail("hearth-runtime: reporting the init error failed: \(error)") }
            fail("hearth-runtime: init failed: \(error)")
        }
        while true {
            do {
                let (event, context) = try client.next()
                try await invoke(client, event, context)
            } catch {
                // The Runtime API is gone or broken: nothing sensible is left to do.
                fail("hearth-runtime: \(error)")
            }
        }
    }

    static func fail(_ message: String) -> Never {
        writeStderr(message + "\n")
        exit(1)
    }

    /// Writes to fd 2 directly (no shared C stdio state).
    static func writeStderr(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            offset += n
        }
    }

    /// `errorType` and Lambda's error document for an error a handler threw.
    static func errorDocument(for error: any Error) -> (type: String, document: [UInt8]) {
        let type = (error as? LambdaFunctionError)?.errorType ?? String(describing: Swift.type(of: error))
        let message = (error as? LambdaFunctionError)?.errorMessage ?? String(describing: error)
        let document = "{\"errorType\":\(jsonString(type)),\"errorMessage\":\(jsonString(message))}"
        return (type, Array(document.utf8))
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// An error a handler throws to choose its `errorType` and `errorMessage` exactly.
public protocol LambdaFunctionError: Error {
    var errorType: String { get }
    var errorMessage: String { get }
}

/// The event could not be decoded as the handler's `Event` type.
public struct EventDecodingError: LambdaFunctionError, CustomStringConvertible {
    public var message: String
    public var errorType: String { "Runtime.EventDecodingError" }
    public var errorMessage: String { message }
    public var description: String { message }
}

/// The Runtime API calls, over one keep-alive connection.
public final class RuntimeClient: @unchecked Sendable {
    private let connection: RuntimeAPIConnection
    private let environment: [String: String]

    public init(endpoint: RuntimeAPIEndpoint, environment: [String: String]) {
        connection = RuntimeAPIConnection(endpoint: endpoint)
        self.environment = environment
    }

    /// Blocks until the next invocation arrives.
    public func next() throws -> ([UInt8], LambdaContext) {
        let response = try connection.request("GET", LambdaRuntime.apiPrefix + "/invocation/next")
        guard response.status == 200 else {
            throw RuntimeClientError.status(response.status, String(decoding: response.body, as: UTF8.self))
        }
        let context = try LambdaContext(headers: response.headers, environment: environment)
        if let trace = context.traceID { setenv("_X_AMZN_TRACE_ID", trace, 1) }
        return (response.body, context)
    }

    public func postResponse(requestID: String, body: [UInt8]) throws {
        try check(connection.request("POST", LambdaRuntime.apiPrefix + "/invocation/\(requestID)/response", body: body))
    }

    public func postError(requestID: String, error: any Error) throws {
        let (type, document) = LambdaRuntime.errorDocument(for: error)
        try check(connection.request("POST", LambdaRuntime.apiPrefix + "/invocation/\(requestID)/error",
                                     headers: [("Content-Type", "application/json"), ("Lambda-Runtime-Function-Error-Type", type)],
                                     body: document))
    }

    public func postInitError(_ error: any Error) throws {
        let (type, document) = LambdaRuntime.errorDocument(for: error)
        try check(connection.request("POST", LambdaRuntime.apiPrefix + "/init/error",
                                     headers: [("Content-Type", "application/json"), ("Lambda-Runtime-Function-Error-Type", type)],
                                     body: document))
    }

    public func postStreamingResponse(requestID: String, _ produce: (ChunkWriter) async throws -> Void) async throws {
        try check(await connection.streamingRequest(
            LambdaRuntime.apiPrefix + "/invocation/\(requestID)/response",
            headers: [("Lambda-Runtime-Function-Response-Mode", "streaming"), ("Content-Type", "application/octet-stream")],
            produce: produce))
    }

    private func check(_ response: RuntimeHTTPResponse) throws {
        // 202 Accepted; 4xx means the invocation is gone (timed out, wrong id): the loop goes on.
        if response.status >= 500 {
            throw RuntimeClientError.status(response.status, String(decoding: response.body, as: UTF8.self))
        }
        if response.status != 202 {
            LambdaRuntime.writeStderr("hearth-runtime: runtime API answered \(response.status): \(String(decoding: response.body, as: UTF8.self))\n")
        }
    }
}
