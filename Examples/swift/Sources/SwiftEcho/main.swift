// The smallest Swift function: answers with the event it got, byte for byte, and logs the
// context Lambda gives it.
import HearthRuntime

await LambdaRuntime.runBytes { event, context in
    print("swift-echo: request \(context.requestID) of \(context.functionName), \(context.remainingTimeInMillis) ms left")
    return event
}
