// A function doing real work on its event: statistics of a text.
//
// Event:    {"text": "...", "top": 5}
// Response: {"characters": N, "words": N, "lines": N, "uniqueWords": N,
//            "top": [{"word": "...", "count": N}], "longestWord": "...", "requestId": "...",
//            "functionName": "...", "memoryLimitInMB": N}
// An event without "text" fails with errorType "MissingText" (a LambdaFunctionError).
import HearthRuntime

struct Request: Codable, Sendable {
    var text: String?
    var top: Int?
}

struct WordCount: Codable, Sendable {
    var word: String
    var count: Int
}

struct Stats: Codable, Sendable {
    var characters: Int
    var words: Int
    var lines: Int
    var uniqueWords: Int
    var top: [WordCount]
    var longestWord: String
    var requestId: String
    var functionName: String
    var memoryLimitInMB: Int
}

struct MissingText: LambdaFunctionError {
    var errorType: String { "MissingText" }
    var errorMessage: String { "the event has no \"text\" to count" }
}

func stats(of text: String, top: Int) -> (Int, Int, Int, [WordCount], String) {
    var counts: [String: Int] = [:]
    var words = 0
    var longest = ""
    var current = ""
    func flush() {
        guard !current.isEmpty else { return }
        words += 1
        counts[current, default: 0] += 1
        if current.count > longest.count || (current.count == longest.count && current < longest) { longest = current }
        current = ""
    }
    for character in text.lowercased() {
        if character.isLetter || character.isNumber || character == "'" { current.append(character) } else { flush() }
    }
    flush()
    let lines = text.isEmpty ? 0 : text.split(separator: "\n", omittingEmptySubsequences: false).count
    let ranked = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        .prefix(max(0, top)).map { WordCount(word: $0.key, count: $0.value) }
    return (words, lines, counts.count, ranked, longest)
}

await LambdaRuntime.run { (request: Request, context: LambdaContext) -> Stats in
    guard let text = request.text else { throw MissingText() }
    let (words, lines, unique, top, longest) = stats(of: text, top: request.top ?? 5)
    print("wordstats: \(words) words in request \(context.requestID)")
    return Stats(characters: text.count, words: words, lines: lines, uniqueWords: unique, top: top, longestWord: longest,
                 requestId: context.requestID, functionName: context.functionName, memoryLimitInMB: context.memoryLimitInMB)
}
