// Scheduled handlers accept {} and scheduled events only: a malformed or foreign event is an invocation error (issue 11).
import LambdaRuntime
import Testing

@Suite struct ScheduledEventTests {
    @Test func emptyObjectsAndScheduledEventsAreAccepted() throws {
        for ok in ["", " \n", "{}", "{ }",
                   #"{"version":"0","detail-type":"Scheduled Event","source":"aws.scheduler","detail":{}}"#,
                   #"{"detail-type":"Scheduled Event","source":"aws.events","resources":[]}"#] {
            try ScheduledEvent.check(Array(ok.utf8), handler: "tick")
        }
    }

    @Test func anythingElseIsAnInvalidEvent() {
        for bad in ["not json", "[]", "42", "\"tick\"", #"{"awslogs":{"data":"H4sI"}}"#,
                    #"{"detail-type":"Object Created","source":"aws.s3"}"#, #"{"RequestType":"Create"}"#] {
            #expect(throws: FunctionError.self, "\(bad) was accepted") { try ScheduledEvent.check(Array(bad.utf8), handler: "tick") }
        }
        do { try ScheduledEvent.check(Array(#"{"RequestType":"Create"}"#.utf8), handler: "tick") } catch {
            #expect(error.errorType == "Function.InvalidEvent")
            #expect(error.message.contains("RequestType"))
        }
    }
}
