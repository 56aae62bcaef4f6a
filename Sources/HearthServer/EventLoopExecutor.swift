import NIOCore
import Synchronization

/// A Swift task executor that runs jobs on one NIO event loop (ADR 0036). A task that prefers
/// it runs its nonisolated code, and the default actors it calls, on the thread that serves its
/// connection: handing a job to the loop from the loop itself is a queue append, where handing
/// it to Swift's cooperative pool and back wakes another thread each way.
///
/// Only for work that does not block: a blocking call on a loop stalls every connection and
/// Runtime API socket that loop serves. Code that may block hops off first with
/// `withTaskExecutorPreference(globalConcurrentExecutor)`.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    let loop: any EventLoop

    private init(loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }

    private static let made = Mutex<[ObjectIdentifier: EventLoopTaskExecutor]>([:])

    /// The one executor of `loop` (one per loop for the life of the process: loops are few).
    static func of(_ loop: any EventLoop) -> EventLoopTaskExecutor {
        made.withLock { made in
            if let executor = made[ObjectIdentifier(loop)] { return executor }
            let executor = EventLoopTaskExecutor(loop: loop)
            made[ObjectIdentifier(loop)] = executor
            return executor
        }
    }
}
