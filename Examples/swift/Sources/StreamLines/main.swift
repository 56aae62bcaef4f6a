// Lambda response streaming: writes one line per item as it goes. With {"failAt": K} it
// throws after K lines, which ends the stream with Lambda's error trailers.
import HearthRuntime
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct Request: Decodable {
    var count: Int?
    var failAt: Int?
}

struct StreamFailure: LambdaFunctionError {
    var line: Int
    var errorType: String { "StreamFailure" }
    var errorMessage: String { "failed after line \(line)" }
}

await LambdaRuntime.runStreaming { event, context, writer in
    let request = (try? JSONDecoder().decode(Request.self, from: Data(event))) ?? Request()
    for i in 1...max(1, request.count ?? 3) {
        if let failAt = request.failAt, i > failAt { throw StreamFailure(line: failAt) }
        try writer.write("line \(i) of request \(context.requestID)\n")
    }
}
