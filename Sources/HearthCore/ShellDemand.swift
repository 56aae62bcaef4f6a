/// How many pre-forked shells a function version's cold starts call for (`InstancePool`'s
/// shells sized by demand, ADR 0019): the most cold starts that were under way at once in the
/// version's last burst. The peak halves every decay period without a cold start, so a
/// version whose bursts stop falls back to the pool's base `prefork`.
struct ShellDemand: Sendable, Equatable {
    /// Cold starts under way now.
    private(set) var inFlight = 0
    /// The most cold starts under way at once since the demand last decayed.
    private(set) var peak = 0
    /// When the last cold start began (decay counts from it).
    private(set) var lastColdStart: ContinuousClock.Instant?
    /// When the peak last halved.
    private var lastDecay: ContinuousClock.Instant?

    mutating func coldStartBegan(at now: ContinuousClock.Instant) {
        inFlight += 1
        peak = max(peak, inFlight)
        lastColdStart = now
        lastDecay = nil
    }

    mutating func coldStartEnded() {
        inFlight = max(0, inFlight - 1)
    }

    /// Halves the peak once per `period` that passed without a cold start.
    mutating func decay(now: ContinuousClock.Instant, every period: Duration) {
        guard inFlight == 0, let last = lastColdStart else { return }
        let since = lastDecay ?? last
        if since.duration(to: now) >= period {
            peak /= 2
            lastDecay = now
        }
    }

    /// Nothing under way and no demand left.
    var isEmpty: Bool { inFlight == 0 && peak == 0 }
}
