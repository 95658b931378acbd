import Foundation

/// Whether a customer-facing notification may be sent: the subject's answer for its purpose and
/// contact channel, and the consent event that gave it.
public enum ConsentVerdict: Sendable, Equatable {
    case permitted(by: UUID)
    case denied(NotificationEvent.Suppressed.Reason, by: UUID?)
}

extension ConsentState {
    /// The verdict for `scope` at `instant`: permitted only by a grant that has not run out.
    public func verdict(for scope: ConsentScope, at instant: Date) -> ConsentVerdict {
        guard let answer = answers[scope] else { return .denied(.noConsent, by: nil) }
        switch answer.status {
        case .refused: return .denied(.refused, by: answer.decidedBy)
        case .withdrawn: return .denied(.withdrawn, by: answer.decidedBy)
        case .granted:
            if answer.isExpired(at: instant) { return .denied(.expired, by: answer.decidedBy) }
            guard let decidedBy = answer.decidedBy else { return .denied(.noConsent, by: nil) }
            return .permitted(by: decidedBy)
        }
    }
}
