// The events a scheduled handler (tick, audit-export) accepts; anything else is an invocation error, not a silent run.
import Core

/// A scheduled job takes no input today. What it accepts: an empty payload or `{}` (an EventBridge Scheduler target
/// without `Input`, `aws lambda invoke` without a payload, `apitap tick`), or an EventBridge "Scheduled Event"
/// (`"detail-type": "Scheduled Event"` from `aws.scheduler` or `aws.events`, as `events/tick.json`). Anything else
/// means someone invoked the function by mistake or with an input it would ignore: `Function.InvalidEvent`.
/// Overrides, when they come, will be keys of `detail` (documented in docs/configuration.md).
public enum ScheduledEvent {
    public static func check(_ event: [UInt8], handler: String) throws(FunctionError) {
        if event.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return }
        let value: JSONValue
        do { value = try JSONReader.parse(event) } catch {
            throw FunctionError("InvalidEvent", "\(handler) takes {} or a scheduled event; the event is not JSON")
        }
        guard let object = value.objectValue else {
            throw FunctionError("InvalidEvent", "\(handler) takes {} or a scheduled event; the event is not a JSON object")
        }
        if object.members.isEmpty { return }
        let source = object["source"]?.stringValue
        if object["detail-type"]?.stringValue == "Scheduled Event", source == "aws.scheduler" || source == "aws.events" { return }
        let keys = object.members.prefix(5).map(\.key).joined(separator: ", ")
        throw FunctionError("InvalidEvent", "\(handler) takes {} or a scheduled event (detail-type \"Scheduled Event\"); got an object with \(keys)")
    }
}
