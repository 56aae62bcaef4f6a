import Foundation

/// SQS's query protocol (API version 2012-11-05: `Action=SendMessage&QueueUrl=…` form-encoded,
/// XML answers), which Debian's aws CLI v2 (2.9), Debian's python3-boto3 and older SDKs speak,
/// next to the JSON 1.0 shapes of `SQSShapes`. A query request is translated into the JSON
/// protocol's request document (the model's flattened names: `Attribute.N.Name`,
/// `MessageAttribute.N.Value.StringValue`, `SendMessageBatchRequestEntry.N.Id`,
/// `AttributeName.N` …), answered by the same operation code, and its JSON answer is written
/// back as the XML the query protocol returns (`<OpResponse><OpResult>…</OpResult>
/// <ResponseMetadata><RequestId>…`, flattened lists and maps, `<ErrorResponse>` for errors with
/// the query error code). Pure: no I/O.
enum SQSQueryShapes {
    static let namespace = "http://queue.amazonaws.com/doc/2012-11-05/"

    // MARK: requests

    /// The form parameters: the body when it is form-encoded (POST), else the query string (GET).
    static func parameters(_ request: HTTPRequest) -> [String: String] {
        let form = request.method == "GET" || request.body.isEmpty ? request.rawQuery : String(decoding: request.body, as: UTF8.self)
        var result: [String: String] = [:]
        for pair in form.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let plus = s.replacingOccurrences(of: "+", with: " ")
                return plus.removingPercentEncoding ?? plus
            }
            result[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return result
    }

    /// Flattened maps: query name, JSON member, the key's and the value's element names.
    static let maps: [String: (json: String, key: String, value: String)] = [
        "Attribute": ("Attributes", "Name", "Value"),
        "Tag": ("Tags", "Key", "Value"),
        "MessageAttribute": ("MessageAttributes", "Name", "Value"),
        "MessageSystemAttribute": ("MessageSystemAttributes", "Name", "Value"),
    ]

    /// Flattened lists: query name, JSON member.
    static let lists: [String: String] = [
        "AttributeName": "AttributeNames", "MessageAttributeName": "MessageAttributeNames",
        "MessageSystemAttributeName": "MessageSystemAttributeNames", "TagKey": "TagKeys",
        "SendMessageBatchRequestEntry": "Entries", "DeleteMessageBatchRequestEntry": "Entries",
        "ChangeMessageVisibilityBatchRequestEntry": "Entries",
        "StringListValue": "StringListValues", "BinaryListValue": "BinaryListValues",
    ]

    /// Members the model types as integers.
    static let integers: Set<String> = [
        "DelaySeconds", "MaxResults", "MaxNumberOfMessages", "VisibilityTimeout", "WaitTimeSeconds", "MaxNumberOfMessagesPerSecond",
    ]

    /// The operation (`Action`) and the JSON protocol's request document for its parameters.
    /// `pathQueueURL` stands in for a missing `QueueUrl` (SDKs that post to the queue's URL).
    static func request(_ parameters: [String: String], pathQueueURL: String?) -> (operation: String?, body: [String: Any]) {
        var tree: [String: Any] = [:]
        for (key, value) in parameters where key != "Action" && key != "Version" {
            insert(value, at: key.split(separator: ".").map(String.init)[...], into: &tree)
        }
        var body = convert(tree)
        // CreateQueue's tags member is lower-case in the model; its query name is still `Tag`.
        if parameters["Action"] == "CreateQueue", let tags = body.removeValue(forKey: "Tags") { body["tags"] = tags }
        if body["QueueUrl"] == nil, let pathQueueURL { body["QueueUrl"] = pathQueueURL }
        return (parameters["Action"], body)
    }

    private static func insert(_ value: String, at path: ArraySlice<String>, into node: inout [String: Any]) {
        guard let head = path.first else { return }
        if path.count == 1 {
            node[head] = value
            return
        }
        var child = node[head] as? [String: Any] ?? [:]
        insert(value, at: path.dropFirst(), into: &child)
        node[head] = child
    }

    /// The children of a list or map node in index order (`.1`, `.2`, …; a `member` level skipped).
    private static func indexed(_ value: Any) -> [Any] {
        guard var node = value as? [String: Any] else { return [value] }
        if node.count == 1, let only = node.first, Int(only.key) == nil, let inner = only.value as? [String: Any] { node = inner }
        var entries: [(Int, Any)] = []
        for (key, child) in node {
            if let index = Int(key) { entries.append((index, child)) }
        }
        return entries.sorted { $0.0 < $1.0 }.map { $0.1 }
    }

    /// A nested node converted, a leaf as it is.
    private static func converted(_ value: Any) -> Any {
        if let node = value as? [String: Any] { return convert(node) }
        return value
    }

    private static func convert(_ node: [String: Any]) -> [String: Any] {
        var out: [String: Any] = [:]
        for (key, value) in node {
            if let map = maps[key] {
                var result: [String: Any] = [:]
                for entry in indexed(value) {
                    guard let entry = entry as? [String: Any], let name = entry[map.key] as? String else { continue }
                    result[name] = entry[map.value].map(converted) ?? ""
                }
                out[map.json] = result
            } else if let json = lists[key] {
                out[json] = indexed(value).map(converted)
            } else if integers.contains(key), let text = value as? String, let n = Int(text) {
                out[key] = n
            } else {
                out[key] = converted(value)
            }
        }
        return out
    }

    // MARK: responses

    /// The XML answer for an operation's JSON answer (success or error).
    static func response(operation: String, json: HTTPResponse, requestID: String) -> HTTPResponse {
        let object = (try? JSONSerialization.jsonObject(with: Data(json.body))) as? [String: Any] ?? [:]
        guard json.status == 200 else {
            let header = json.headers.first { $0.0.lowercased() == "x-amzn-query-error" }?.1
            let parts = header?.split(separator: ";").map(String.init) ?? []
            let type = (object["__type"] as? String).map { String($0.split(separator: "#").last ?? Substring($0)) } ?? "InternalError"
            let code = parts.first ?? type
            let fault = parts.count > 1 ? parts[1] : (json.status >= 500 ? "Receiver" : "Sender")
            return error(code: code, fault: fault, message: object["message"] as? String ?? "", status: json.status, requestID: requestID)
        }
        var xml = #"<?xml version="1.0"?><\#(operation)Response xmlns="\#(namespace)">"#
        if !object.isEmpty || resultAlways.contains(operation) {
            xml += "<\(operation)Result>" + members(object, operation: operation) + "</\(operation)Result>"
        }
        xml += "<ResponseMetadata><RequestId>\(escape(requestID))</RequestId></ResponseMetadata></\(operation)Response>"
        return HTTPResponse(status: 200, headers: [("Content-Type", "text/xml"), ("x-amzn-RequestId", requestID)], body: Array(xml.utf8))
    }

    /// Operations whose answer has a result element even when it is empty.
    static let resultAlways: Set<String> = [
        "ListQueues", "ReceiveMessage", "GetQueueAttributes", "ListQueueTags", "ListDeadLetterSourceQueues", "ListMessageMoveTasks",
        "SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch",
    ]

    /// `<ErrorResponse>` as the query protocol has it.
    static func error(code: String, fault: String, message: String, status: Int, requestID: String) -> HTTPResponse {
        let xml = #"<?xml version="1.0"?><ErrorResponse xmlns="\#(namespace)"><Error><Type>\#(escape(fault))</Type><Code>\#(escape(code))</Code><Message>\#(escape(message))</Message><Detail/></Error><RequestId>\#(escape(requestID))</RequestId></ErrorResponse>"#
        return HTTPResponse(status: status, headers: [("Content-Type", "text/xml"), ("x-amzn-RequestId", requestID)], body: Array(xml.utf8))
    }

    /// The element name of one entry of a flattened list member.
    static func element(of key: String, operation: String) -> String {
        switch key {
        case "QueueUrls", "queueUrls": return "QueueUrl"
        case "Messages": return "Message"
        case "Successful": return "\(operation)ResultEntry"
        case "Failed": return "BatchResultErrorEntry"
        case "Results": return "\(operation)ResultEntry"
        case "StringListValues": return "StringListValue"
        case "BinaryListValues": return "BinaryListValue"
        default: return key
        }
    }

    static func members(_ object: [String: Any], operation: String) -> String {
        var xml = ""
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            switch value {
            case let list as [Any]:
                let name = element(of: key, operation: operation)
                for entry in list {
                    if let entry = entry as? [String: Any] {
                        xml += "<\(name)>" + members(entry, operation: operation) + "</\(name)>"
                    } else {
                        xml += "<\(name)>\(text(entry, key: key))</\(name)>"
                    }
                }
            case let map as [String: Any] where key == "Attributes" || key == "Tags" || key == "MessageAttributes":
                let (entryName, keyName) = key == "Tags" ? ("Tag", "Key") : (key == "Attributes" ? "Attribute" : "MessageAttribute", "Name")
                for (name, item) in map.sorted(by: { $0.key < $1.key }) {
                    let inner = (item as? [String: Any]).map { members($0, operation: operation) } ?? escape("\(item)")
                    xml += "<\(entryName)><\(keyName)>\(escape(name))</\(keyName)><Value>\(inner)</Value></\(entryName)>"
                }
            case let nested as [String: Any]:
                xml += "<\(key)>" + members(nested, operation: operation) + "</\(key)>"
            default:
                xml += "<\(key)>\(text(value, key: key))</\(key)>"
            }
        }
        return xml
    }

    /// Booleans as `true`/`false` (the model's only boolean member here is SenderFault).
    static func text(_ value: Any, key: String) -> String {
        if key == "SenderFault", let flag = value as? Bool { return flag ? "true" : "false" }
        if let number = value as? NSNumber, !(value is String) { return number.stringValue }
        return escape("\(value)")
    }

    /// XML text: `&`, `<`, `>`, quotes, and carriage returns kept as character references.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\r": out += "&#xD;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
