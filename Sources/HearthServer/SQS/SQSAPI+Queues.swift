import Foundation
import HearthQueues

// CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, PurgeQueue, Get/SetQueueAttributes,
// ListDeadLetterSourceQueues and the tag operations.
extension SQSAPI {
    func createQueue(_ body: Body, _ context: Context) throws -> HTTPResponse {
        let name = try Self.string(body, "QueueName", required: true)!
        let attributes = try Self.stringMap(body, "Attributes")
        let tags = try Self.stringMap(body, "tags")
        let queue = try queues.createQueue(name: name, attributes: attributes, tags: tags)
        return context.json(["QueueUrl": context.url(queues, queue.name)])
    }

    func getQueueUrl(_ body: Body, _ context: Context) throws -> HTTPResponse {
        let name = try Self.string(body, "QueueName", required: true)!
        if let owner = try Self.string(body, "QueueOwnerAWSAccountId"), owner != queues.account { throw QueueError.queueDoesNotExist }
        _ = try queues.queue(named: name)
        return context.json(["QueueUrl": context.url(queues, name)])
    }

    /// Up to 1000 URLs; with MaxResults (1-1000), pages with an opaque NextToken.
    func listQueues(_ body: Body, _ context: Context) throws -> HTTPResponse {
        let prefix = try Self.string(body, "QueueNamePrefix")
        let max = try Self.int(body, "MaxResults")
        if let max, !(1...1000).contains(max) {
            throw QueueError.invalidParameterValue("Value \(max) for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.")
        }
        var names = queues.listQueues(prefix: prefix)
        if let token = try Self.string(body, "NextToken"), !token.isEmpty {
            guard let data = Data(base64Encoded: token), let after = String(data: data, encoding: .utf8) else {
                throw QueueError.invalidParameterValue("Invalid NextToken value.")
            }
            names = names.filter { $0 > after }
        }
        var object: [String: Any] = [:]
        let page = Array(names.prefix(max ?? 1000))
        if !page.isEmpty { object["QueueUrls"] = page.map { context.url(queues, $0) } }
        if let max, names.count > max, let last = page.last { object["NextToken"] = Data(last.utf8).base64EncodedString() }
        return context.json(object)
    }

    func deleteQueue(_ body: Body, _ context: Context) async throws -> HTTPResponse {
        try await queues.deleteQueue(try queueName(body))
        return context.json([:])
    }

    func purgeQueue(_ body: Body, _ context: Context) async throws -> HTTPResponse {
        try await queues.purge(try queueName(body))
        return context.json([:])
    }

    func getQueueAttributes(_ body: Body, _ context: Context) async throws -> HTTPResponse {
        let name = try queueName(body)
        let names = try Self.stringList(body, "AttributeNames")
        let attributes = try await queues.attributes(of: name, names: names)
        return context.json(attributes.isEmpty ? [:] : ["Attributes": attributes])
    }

    func setQueueAttributes(_ body: Body, _ context: Context) throws -> HTTPResponse {
        let name = try queueName(body)
        try queues.setAttributes(of: name, try Self.stringMap(body, "Attributes"))
        return context.json([:])
    }

    func listDeadLetterSourceQueues(_ body: Body, _ context: Context) throws -> HTTPResponse {
        let name = try queueName(body)
        let max = try Self.int(body, "MaxResults")
        var sources = try queues.deadLetterSources(of: name)
        if let token = try Self.string(body, "NextToken"), let data = Data(base64Encoded: token), let after = String(data: data, encoding: .utf8) {
            sources = sources.filter { $0 > after }
        }
        let page = Array(sources.prefix(max ?? 1000))
        var object: [String: Any] = ["queueUrls": page.map { context.url(queues, $0) }]
        if let max, sources.count > max, let last = page.last { object["NextToken"] = Data(last.utf8).base64EncodedString() }
        return context.json(object)
    }

    func tagQueue(_ body: Body, _ context: Context) throws -> HTTPResponse {
        try queues.tag(try queueName(body), try Self.stringMap(body, "Tags"))
        return context.json([:])
    }

    func untagQueue(_ body: Body, _ context: Context) throws -> HTTPResponse {
        try queues.untag(try queueName(body), try Self.stringList(body, "TagKeys"))
        return context.json([:])
    }

    func listQueueTags(_ body: Body, _ context: Context) throws -> HTTPResponse {
        let tags = try queues.tags(of: try queueName(body))
        return context.json(tags.isEmpty ? [:] : ["Tags": tags])
    }
}
