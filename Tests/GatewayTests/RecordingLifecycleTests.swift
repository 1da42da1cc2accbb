import Testing

@testable import Gateway

/// The lifecycle table, whole: every state with every event, the allowed ones and their next state.
struct RecordingLifecycleTests {
    typealias State = RecordingLifecycle.State
    typealias Event = RecordingLifecycle.Event

    static let allowed: [State: [Event: State]] = [
        .received: [.s3Confirmed: .stored, .spooled: .pending, .abandoned: .refused],
        .pending: [.claimed: .replaying, .retried: .pending, .discarded: .discarded],
        .replaying: [
            .replayed: .stored, .deferred: .pending, .paused: .pending, .failedForGood: .failed, .interrupted: .pending,
            .discarded: .discarded,
        ],
        .failed: [.retried: .pending, .discarded: .discarded],
        .stored: [.discarded: .discarded],
        .refused: [:],
        .discarded: [:],
    ]

    @Test(arguments: State.allCases)
    func everyEventInThisStateGoesWhereTheTableSays(_ state: State) {
        for event in Event.allCases {
            #expect(RecordingLifecycle.next(from: state, on: event) == Self.allowed[state]?[event], "\(state) --\(event)-->")
        }
    }

    @Test func aStoredOrRefusedRecordingIsNeverReplayed() {
        for state in [State.stored, .refused, .discarded] {
            #expect(RecordingLifecycle.next(from: state, on: .claimed) == nil)
            #expect(RecordingLifecycle.next(from: state, on: .replayed) == nil)
        }
    }

    @Test func queueRowStatesMapOntoTheLifecycle() {
        #expect(RecordingLifecycle.state(of: .pending) == .pending)
        #expect(RecordingLifecycle.state(of: .uploading) == .replaying)
        #expect(RecordingLifecycle.state(of: .stored) == .stored)
        #expect(RecordingLifecycle.state(of: .failed) == .failed)
    }
}
