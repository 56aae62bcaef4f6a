import Foundation
import NIOCore
import NIOHTTP1

/// Parses Runtime API requests on one connection and hands them to the server.
/// Lives on the server's event loop.
final class RuntimeAPIHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let prefix = "/2018-06-01/runtime/"

    enum Route: Equatable {
        case next
        case response(String)
        case error(String)
        case initError
    }

    private let server: RuntimeAPIServer
    private var connectionID: RuntimeStateMachine.ConnectionID?
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var limit = RuntimeAPIServer.maxResponseBytes
    private var tooLarge = false

    init(server: RuntimeAPIServer) {
        self.server = server
    }

    func channelActive(context: ChannelHandlerContext) {
        guard let id = server.register(context.channel) else {
            context.close(promise: nil)
            return
        }
        connectionID = id
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let connectionID { server.unregister(connectionID) }
        context.fireChannelInactive()
    }

    static func parseRoute(method: HTTPMethod, uri: String) -> Result<Route, RuntimeAPIError> {
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        guard path.hasPrefix(prefix) else { return .failure(.notFound(path)) }
        let parts = path.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        let route: Route
        switch parts.count {
        case 2 where parts[0] == "invocation" && parts[1] == "next":
            route = .next
        case 2 where parts[0] == "init" && parts[1] == "error":
            route = .initError
        case 3 where parts[0] == "invocation" && parts[2] == "response" && !parts[1].isEmpty:
            route = .response(String(parts[1]).removingPercentEncoding ?? String(parts[1]))
        case 3 where parts[0] == "invocation" && parts[2] == "error" && !parts[1].isEmpty:
            route = .error(String(parts[1]).removingPercentEncoding ?? String(parts[1]))
        default:
            return .failure(.notFound(path))
        }
        let expected: HTTPMethod = route == .next ? .GET : .POST
        if method != expected { return .failure(.methodNotAllowed("\(method) \(path)")) }
        return .success(route)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.removeAll(keepingCapacity: true)
            tooLarge = false
            let streaming = head.headers["Lambda-Runtime-Function-Response-Mode"].first?.lowercased() == "streaming"
            limit = streaming ? RuntimeAPIServer.maxStreamedResponseBytes : RuntimeAPIServer.maxResponseBytes
            if let length = head.headers["Content-Length"].first.flatMap(Int.init), length > limit { tooLarge = true }
        case .body(var chunk):
            if tooLarge { return }
            if body.count + chunk.readableBytes > limit {
                tooLarge = true
                body = []
                return
            }
            body.append(contentsOf: chunk.readBytes(length: chunk.readableBytes) ?? [])
        case .end(let trailers):
            guard let head else { return }
            self.head = nil
            dispatch(head: head, trailers: trailers, channel: context.channel)
        }
    }

    private func dispatch(head: HTTPRequestHead, trailers: HTTPHeaders?, channel: any Channel) {
        let route: Route
        switch Self.parseRoute(method: head.method, uri: head.uri) {
        case .failure(let error):
            RuntimeAPIServer.write(error: error, to: channel)
            return
        case .success(let r):
            route = r
        }
        switch route {
        case .next:
            server.next(on: connectionID ?? -1, channel: channel)
        case .response(let id):
            let streamed = head.headers["Lambda-Runtime-Function-Response-Mode"].first?.lowercased() == "streaming"
            let outcome: RuntimeOutcome
            if tooLarge {
                outcome = .responseTooLarge(limit: limit)
            } else if let trailers, let type = trailers["Lambda-Runtime-Function-Error-Type"].first {
                // A streamed response that failed midway: the error travels in trailers.
                let encoded = trailers["Lambda-Runtime-Function-Error-Body"].first ?? ""
                let errorBody = Data(base64Encoded: encoded).map { [UInt8]($0) } ?? Array(encoded.utf8)
                outcome = .functionError(type: type, body: errorBody)
            } else {
                outcome = .response(body: body, streamed: streamed)
            }
            server.post(requestID: id, outcome: outcome, channel: channel)
        case .error(let id):
            let type = head.headers["Lambda-Runtime-Function-Error-Type"].first ?? Self.errorType(in: body) ?? "Unhandled"
            server.post(requestID: id, outcome: .functionError(type: type, body: tooLarge ? [] : body), channel: channel)
        case .initError:
            let type = head.headers["Lambda-Runtime-Function-Error-Type"].first ?? Self.errorType(in: body) ?? "Runtime.Unknown"
            server.initError(type: type, body: tooLarge ? [] : body, channel: channel)
        }
    }

    /// `errorType` of an error document, if the body is one.
    static func errorType(in body: [UInt8]) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        return object["errorType"] as? String
    }
}
