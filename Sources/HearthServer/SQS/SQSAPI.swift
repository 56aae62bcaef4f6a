import Foundation
import HearthQueues

/// Amazon SQS's API (AWS JSON 1.0, `X-Amz-Target: AmazonSQS.<Operation>`, signing name `sqs`)
/// over the queue engine. Reached through `ServiceRouter` on the shared listener;
/// authentication is done by the caller. Queue URLs point back at the address the client used
/// (`http://HOST:PORT/000000000000/NAME`). Thread-safe; holds no HTTP framing.
final class SQSAPI: Sendable {
    let queues: QueueService

    init(queues: QueueService) {
        self.queues = queues
    }

    typealias Body = [String: Any]

    func handle(_ request: HTTPRequest, requestID: String) async -> HTTPResponse {
        let context = Context(request: request, requestID: requestID)
        guard let target = request.header("X-Amz-Target") else {
            return await handleQuery(context)
        }
        let operation = target.hasPrefix("AmazonSQS.") ? String(target.dropFirst("AmazonSQS.".count)) : target
        let body: Body
        do {
            body = try Self.body(request)
        } catch let error as SerializationError {
            return SQSShapes.errorResponse(type: "com.amazon.coral.service#SerializationException", code: "SerializationException", status: 400,
                                           message: error.message, requestID: requestID)
        } catch {
            return SQSShapes.error(.internalError("\(error)"), requestID: requestID)
        }
        return await dispatch(operation, body, context)
    }

    /// A query-protocol request (`Action=…`, form-encoded): translated into the JSON request
    /// document, answered by the same operation, written back as XML (`SQSQueryShapes`).
    func handleQuery(_ context: Context) async -> HTTPResponse {
        let parameters = SQSQueryShapes.parameters(context.request)
        let path = context.request.rawPath.split(separator: "/")
        let pathURL = path.count == 2 ? "http://\(context.request.header("Host") ?? "127.0.0.1")/\(path[0])/\(path[1])" : nil
        let (action, body) = SQSQueryShapes.request(parameters, pathQueueURL: pathURL)
        guard let operation = action, !operation.isEmpty else {
            return SQSQueryShapes.error(code: "MissingAction", fault: "Sender", message: "The request must contain the parameter Action.",
                                        status: 400, requestID: context.requestID)
        }
        let json = await dispatch(operation, body, context)
        return SQSQueryShapes.response(operation: operation, json: json, requestID: context.requestID)
    }

    /// Runs one operation on its JSON request document; errors in the JSON protocol's shape.
    func dispatch(_ operation: String, _ body: Body, _ context: Context) async -> HTTPResponse {
        let requestID = context.requestID
        do {
            switch operation {
            case "CreateQueue": return try createQueue(body, context)
            case "GetQueueUrl": return try getQueueUrl(body, context)
            case "ListQueues": return try listQueues(body, context)
            case "DeleteQueue": return try await deleteQueue(body, context)
            case "PurgeQueue": return try await purgeQueue(body, context)
            case "GetQueueAttributes": return try await getQueueAttributes(body, context)
            case "SetQueueAttributes": return try setQueueAttributes(body, context)
            case "ListDeadLetterSourceQueues": return try listDeadLetterSourceQueues(body, context)
            case "TagQueue": return try tagQueue(body, context)
            case "UntagQueue": return try untagQueue(body, context)
            case "ListQueueTags": return try listQueueTags(body, context)
            case "SendMessage": return try await sendMessage(body, context)
            case "SendMessageBatch": return try await sendMessageBatch(body, context)
            case "ReceiveMessage": return try await receiveMessage(body, context)
            case "DeleteMessage": return try await deleteMessage(body, context)
            case "DeleteMessageBatch": return try await deleteMessageBatch(body, context)
            case "ChangeMessageVisibility": return try await changeMessageVisibility(body, context)
            case "ChangeMessageVisibilityBatch": return try await changeMessageVisibilityBatch(body, context)
            case "StartMessageMoveTask": return try await startMessageMoveTask(body, context)
            case "ListMessageMoveTasks": return try await listMessageMoveTasks(body, context)
            case "CancelMessageMoveTask": return try await cancelMessageMoveTask(body, context)
            case "AddPermission", "RemovePermission":
                throw QueueError.unsupportedOperation("Hearth does not support \(operation)")
            default:
                return SQSShapes.errorResponse(type: "com.amazon.coral.service#UnknownOperationException", code: "InvalidAction", status: 400,
                                               message: "The action \(operation) is not valid for this endpoint.", requestID: requestID)
            }
        } catch let error as QueueError {
            return SQSShapes.error(error, requestID: requestID)
        } catch let error as SerializationError {
            return SQSShapes.errorResponse(type: "com.amazon.coral.service#SerializationException", code: "SerializationException", status: 400,
                                           message: error.message, requestID: requestID)
        } catch {
            return SQSShapes.error(.internalError("\(error)"), requestID: requestID)
        }
    }

    /// What every operation needs to know about its request.
    struct Context {
        var request: HTTPRequest
        var requestID: String

        /// `http://HOST/ACCOUNT/NAME`, with the Host the client used.
        func url(_ queues: QueueService, _ name: String) -> String {
            "http://\(request.header("Host") ?? "127.0.0.1:9001")/\(queues.account)/\(name)"
        }

        /// The sender: the access key id of the request's signature (SQS: the caller's principal id).
        var senderId: String {
            guard let authorization = request.header("Authorization"), let range = authorization.range(of: "Credential=") else {
                return "000000000000"
            }
            return String(authorization[range.upperBound...].prefix { $0 != "/" })
        }

        func json(_ object: [String: Any]) -> HTTPResponse { SQSShapes.json(object, requestID: requestID) }
    }

    struct SerializationError: Error {
        var message: String
    }

    // MARK: members

    static func body(_ request: HTTPRequest) throws -> Body {
        if request.body.isEmpty { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(request.body)) as? Body else {
            throw SerializationError(message: "Start of structure or map found where not expected.")
        }
        return object
    }

    static func string(_ body: Body, _ key: String, required: Bool = false) throws -> String? {
        switch body[key] {
        case nil, is NSNull:
            if required { throw QueueError.missingParameter("The request must contain the parameter \(key).") }
            return nil
        case let s as String: return s
        default: throw SerializationError(message: "Expected a string for \(key)")
        }
    }

    static func int(_ body: Body, _ key: String) throws -> Int? {
        switch body[key] {
        case nil, is NSNull: return nil
        case let n as NSNumber: return n.intValue
        default: throw SerializationError(message: "Expected an integer for \(key)")
        }
    }

    static func stringMap(_ body: Body, _ key: String) throws -> [String: String] {
        guard let value = body[key], !(value is NSNull) else { return [:] }
        guard let map = value as? [String: Any] else { throw SerializationError(message: "Expected a map for \(key)") }
        var result: [String: String] = [:]
        for (k, v) in map {
            guard let s = v as? String else { throw SerializationError(message: "Expected string values in \(key)") }
            result[k] = s
        }
        return result
    }

    static func stringList(_ body: Body, _ key: String) throws -> [String] {
        guard let value = body[key], !(value is NSNull) else { return [] }
        guard let list = value as? [Any], list.allSatisfy({ $0 is String }) else { throw SerializationError(message: "Expected a list of strings for \(key)") }
        return list.map { $0 as! String }
    }

    /// The queue a `QueueUrl` names (its last path component; any host).
    func queueName(_ body: Body) throws -> String {
        let url = try Self.string(body, "QueueUrl", required: true)!
        let path = URLComponents(string: url)?.path ?? url
        let parts = path.split(separator: "/")
        guard let name = parts.last, !name.isEmpty else {
            throw QueueError.invalidParameterValue("Value \(url) for parameter QueueUrl is invalid. Reason: Invalid URL.")
        }
        if parts.count >= 2, parts[parts.count - 2] != queues.account { throw QueueError.queueDoesNotExist }
        let queue = String(name)
        _ = try queues.queue(named: queue)
        return queue
    }

    /// `MessageAttributes` (and `MessageSystemAttributes`) of a send.
    static func messageAttributes(_ value: Any?) throws -> [String: MessageAttributeValue] {
        guard let value, !(value is NSNull) else { return [:] }
        guard let map = value as? [String: Any] else { throw SerializationError(message: "Expected a map for MessageAttributes") }
        var result: [String: MessageAttributeValue] = [:]
        for (name, raw) in map {
            guard let entry = raw as? [String: Any] else { throw SerializationError(message: "Expected a structure for MessageAttributes.\(name)") }
            guard let type = entry["DataType"] as? String, !type.isEmpty else {
                throw QueueError.invalidParameterValue("The message attribute '\(name)' must contain non-empty message attribute type.")
            }
            var binary: Data?
            if let text = entry["BinaryValue"] as? String {
                guard let data = Data(base64Encoded: text) else { throw SerializationError(message: "BinaryValue of \(name) is not base64") }
                binary = data
            }
            if let lists = entry["StringListValues"] as? [Any], !lists.isEmpty {
                throw QueueError.invalidParameterValue("Message attribute list values in SendMessage operation are not supported.")
            }
            result[name] = MessageAttributeValue(dataType: type, stringValue: entry["StringValue"] as? String, binaryValue: binary)
        }
        return result
    }

    /// Batch entries: 1-10, ids `[A-Za-z0-9_-]{1,80}` and distinct.
    static func entries(_ body: Body, kind: String) throws -> [Body] {
        guard let list = body["Entries"] as? [Any], !list.isEmpty else {
            throw QueueError.emptyBatchRequest("There should be at least one \(kind) in the request.")
        }
        if list.count > 10 {
            throw QueueError.tooManyEntriesInBatchRequest("Maximum number of entries per request are 10. You have sent \(list.count).")
        }
        var seen = Set<String>()
        var entries: [Body] = []
        for raw in list {
            guard let entry = raw as? Body else { throw SerializationError(message: "Expected a structure in Entries") }
            let id = entry["Id"] as? String ?? ""
            let valid = (1...80).contains(id.count) && id.unicodeScalars.allSatisfy {
                ("0"..."9").contains($0) || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || $0 == "-" || $0 == "_"
            }
            guard valid else {
                throw QueueError.invalidBatchEntryId("A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
            }
            guard seen.insert(id).inserted else { throw QueueError.batchEntryIdsNotDistinct("Id \(id) repeated.") }
            entries.append(entry)
        }
        return entries
    }
}
