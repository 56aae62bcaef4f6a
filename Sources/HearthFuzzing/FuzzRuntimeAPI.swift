import HearthRuntimeAPI
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// The Runtime API request handling as a function sees it: raw bytes on one connection go
/// through NIO's HTTP decoder into `RuntimeAPIHandler`, against a fresh server with one
/// invocation pending (id `fuzz-request-1`, so that valid ids are reachable).
///
/// Invariants: no crash; every response is a well-formed HTTP response with a status; the
/// server answers at most once per request; a 6 MB cap holds for buffered responses.
enum FuzzRuntimeAPI {
    static let requestID = "fuzz-request-1"

    static func run(_ data: [UInt8]) {
        let loop = EmbeddedEventLoop()
        let server = RuntimeAPIServer(eventLoop: loop)
        let channel = EmbeddedChannel(loop: loop)
        defer {
            server.closeOnLoop()
            _ = try? channel.finish()
            loop.run()
        }
        do {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(server.makeConnectionHandler())
            channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 9001), promise: nil)
        } catch {
            fatalError("fuzz setup: \(error)")
        }
        var outcome: Result<RuntimeOutcome, any Error>?
        server.invoke(Invocation(requestID: requestID, payload: Array(#"{"fuzz":true}"#.utf8),
                                 deadlineMs: 1_700_000_000_000, functionARN: "arn:aws:lambda:us-east-1:000000000000:function:fuzz"))
            .whenComplete { outcome = $0 }
        loop.run()
        // The input may hold several pipelined requests; feed it in two pieces to exercise the
        // decoder's partial reads.
        let cut = data.isEmpty ? 0 : Int(data[0]) % (data.count + 1)
        for piece in [data[..<cut], data[cut...]] where !piece.isEmpty {
            do {
                try channel.writeInbound(ByteBuffer(bytes: piece))
            } catch {
                break  // a decoder error closes the connection, as on a socket
            }
            loop.run()
        }
        var output = ByteBuffer()
        while let part = try? channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(var chunk) = part { output.writeBuffer(&chunk) }
        }
        let text = String(buffer: output)
        if !text.isEmpty {
            FuzzCheck.require(text.hasPrefix("HTTP/1."), "response does not start with a status line: \(text.prefix(80))")
        }
        if case .success(.response(let body, _, _)) = outcome {
            FuzzCheck.require(body.count <= RuntimeAPIServer.maxStreamedResponseBytes, "accepted a \(body.count)-byte response")
        }
    }
}
