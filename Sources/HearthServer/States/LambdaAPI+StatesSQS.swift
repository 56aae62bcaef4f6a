import Foundation
import HearthEvents
import HearthQueues
import HearthStates

// Workflow tasks: `arn:aws:states:::sqs:sendMessage[.waitForTaskToken]`, sent through the same
// queue service as SendMessage.
extension LambdaAPI {
    /// Sends a Task state's message (Parameters `QueueUrl`, `MessageBody` — any JSON, sent as its
    /// text when not a string —, `MessageAttributes`, `DelaySeconds`) and says how it went: the
    /// result is SendMessage's response as Step Functions returns it (the SDK's response object,
    /// `SdkHttpMetadata` and `SdkResponseMetadata` included); a callback task is only submitted.
    /// An SQS error is `SQS.<Exception>` with the SDK's cause text.
    func runStatesSQSTask(_ task: TaskInvocation, clock: any LedgerClock) async -> JournalEntry {
        let requestID = UUID().uuidString.lowercased()
        func failed(_ error: QueueError) -> JournalEntry {
            let (type, code, status) = SQSShapes.wire(error)
            let name = ["QueueDoesNotExist", "InvalidMessageContents", "UnsupportedOperation"].contains(type) ? "\(type)Exception" : "AmazonSQSException"
            return .taskFailed(task: task.id, error: "SQS.\(name)",
                               cause: "\(error.message) (Service: AmazonSQS; Status Code: \(status); Error Code: \(code); Request ID: \(requestID); Proxy: null)",
                               at: clock.nowMs())
        }
        guard let sqs else { return failed(.internalError("SQS is not running")) }
        var parameters = task.parameters
        if case .object(var o) = parameters, let body = o["MessageBody"], body.stringValue == nil {
            o["MessageBody"] = .string(body.text)
            parameters = .object(o)
        }
        guard let body = (try? JSONSerialization.jsonObject(with: Data(parameters.bytes))) as? [String: Any] else {
            return failed(.invalidParameterValue("The task's Parameters must be a JSON object"))
        }
        let sent: SentMessage
        do {
            let name = try sqs.queueName(body)
            sent = try await sqs.queues.send(name, try sqs.outgoing(body, fifo: try sqs.queues.queue(named: name).isFifo), senderId: account)
        } catch let error as QueueError {
            return failed(error)
        } catch {
            return failed(.invalidParameterValue("\(error)"))
        }
        var response: [(String, JSON)] = [("MD5OfMessageBody", .string(sent.md5OfMessageBody))]
        if let md5 = sent.md5OfMessageAttributes { response.append(("MD5OfMessageAttributes", .string(md5))) }
        response.append(("MessageId", .string(sent.messageId)))
        if let sequence = sent.sequenceNumber { response.append(("SequenceNumber", .string(sequence))) }
        let headers: [(String, String)] = [
            ("Content-Length", "0"), ("Content-Type", "text/xml"), ("Date", Date().formatted(.iso8601)), ("x-amzn-RequestId", requestID),
        ]
        response += [
            ("SdkHttpMetadata", .obj([
                ("AllHttpHeaders", .object(JSONObject(headers.map { ($0.0, .array([.string($0.1)])) }))),
                ("HttpHeaders", .object(JSONObject(headers.map { ($0.0, .string($0.1)) }))),
                ("HttpStatusCode", .int(200)),
            ])),
            ("SdkResponseMetadata", .obj([("RequestId", .string(requestID))])),
        ]
        let output = JSON.obj(response).text
        if task.callback { return .taskSubmitted(task: task.id, output: output, at: clock.nowMs()) }
        return .taskSucceeded(task: task.id, output: output, at: clock.nowMs())
    }
}
