import Foundation
import HearthCore
import HearthServer
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// The Invoke API's request parsing and validation: raw bytes are decoded by NIO's HTTP server
/// pipeline (as on the front door), then every request for `/2015-03-31/functions/{name}/invocations`
/// goes through `InvokeRequest` and the payload check, as `LambdaAPI.invoke` does before any
/// lookup.
///
/// Invariants: no crash; an accepted request names a valid function and a non-empty qualifier,
/// carries at most 6 MB, and its payload is JSON.
enum FuzzInvokeAPI {
    final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        var head: HTTPRequestHead?
        var body: [UInt8] = []
        var requests: [HTTPRequest] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = []
            case .body(var chunk):
                if body.count < LambdaAPI.maxInvokePayload + 1024 {
                    body += chunk.readBytes(length: chunk.readableBytes) ?? []
                }
            case .end:
                guard let head else { return }
                let target = head.uri
                let question = target.firstIndex(of: "?")
                let path = question.map { String(target[..<$0]) } ?? target
                let query = question.map { String(target[target.index(after: $0)...]) } ?? ""
                requests.append(HTTPRequest(method: head.method.rawValue, rawPath: path, rawQuery: query,
                                            headers: head.headers.map { ($0.name, $0.value) }, body: body))
                self.head = nil
            }
        }
    }

    static func run(_ data: [UInt8]) {
        let channel = EmbeddedChannel()
        let collector = Collector()
        defer { _ = try? channel.finish() }
        do {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(collector)
            try channel.writeInbound(ByteBuffer(bytes: data))
        } catch {
            // Malformed HTTP: the front door answers 400 and closes; requests before it still count.
        }
        for request in collector.requests { check(request) }
    }

    static func check(_ request: HTTPRequest) {
        // Segment the path as LambdaAPI.handle does.
        let segments = request.rawPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            .map { String($0).removingPercentEncoding ?? String($0) }
        guard segments.count == 4, segments[0] == "2015-03-31", segments[1] == "functions", segments[3] == "invocations" else { return }
        guard let invoke = try? InvokeRequest(path: segments[2], request: request) else { return }
        FuzzCheck.require(FunctionConfig.isValidName(invoke.function.name), "accepted function name \(invoke.function.name)")
        FuzzCheck.require(invoke.function.qualifier.map { !$0.isEmpty } ?? true, "accepted an empty qualifier")
        FuzzCheck.require(request.body.count <= LambdaAPI.maxInvokePayload, "accepted a \(request.body.count)-byte payload")
        guard let payload = try? InvokeRequest.validatedPayload(request.body) else { return }
        FuzzCheck.require((try? JSONSerialization.jsonObject(with: Data(payload), options: [.fragmentsAllowed])) != nil,
                          "accepted a payload that is not JSON")
    }
}
