import Foundation
import HearthDeploy

// `hearth deploy`'s stack records: Hearth's own endpoints (`/hearth/stacks[/NAME]`). The
// deploy itself runs in the CLI through the services' public APIs; the server keeps what each
// stack is made of, so `hearth stack list/describe/delete` work from any client.
extension LambdaAPI {
    func stacksRoute(_ method: String, _ segments: [String], _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        switch (method, segments.count) {
        case ("GET", 2):
            let records = try store.stacks().compactMap { try? JSONDecoder().decode(StackRecord.self, from: $0.record) }
            let shaped = try records.map { try JSONSerialization.jsonObject(with: JSONEncoder().encode($0)) }
            return LambdaShapes.json(["Stacks": shaped], requestID: requestID)
        case ("GET", 3):
            guard let data = try store.stack(name: segments[2]) else { throw Self.noStack(segments[2]) }
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json"), ("x-amzn-RequestId", requestID)], body: [UInt8](data))
        case ("PUT", 3):
            let record: StackRecord
            do {
                record = try JSONDecoder().decode(StackRecord.self, from: Data(request.body))
            } catch {
                throw LambdaError.invalidParameter("the stack record is not valid: \(error)")
            }
            guard record.name == segments[2] else { throw LambdaError.invalidParameter("the record names stack \(record.name), not \(segments[2])") }
            try store.putStack(name: record.name, record: JSONEncoder().encode(record))
            return LambdaShapes.json([String: Any](), requestID: requestID)
        case ("DELETE", 3):
            guard try store.deleteStack(name: segments[2]) else { throw Self.noStack(segments[2]) }
            return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID)], body: [])
        default:
            throw LambdaError(status: 404, type: "UnknownOperationException", message: "Unknown operation \(method) \(request.rawPath)")
        }
    }

    /// CloudFormation's message for a stack that does not exist.
    static func noStack(_ name: String) -> LambdaError {
        LambdaError(status: 404, type: "ValidationError", message: "Stack with id \(name) does not exist")
    }
}
