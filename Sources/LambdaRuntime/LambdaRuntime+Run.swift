// The runtime loop: init (pick the handler, report init errors), then next → handle → response/error, forever.
import Glibc
import HTTP
import Core

public enum LambdaRuntime {
    /// Exit codes: 0 after `maxInvocations` (local runs), 1 on init failure or when the Runtime API says stop.
    public static func run(registry: HandlerRegistry, environment: [String: String], logger: Logger,
                           maxInvocations: Int? = nil) async -> Int32 {
        guard let endpoint = environment["AWS_LAMBDA_RUNTIME_API"], !endpoint.isEmpty else {
            logger.fatal("AWS_LAMBDA_RUNTIME_API is not set: not running under a Lambda Runtime API")
            return 1
        }
        let client: RuntimeAPIClient
        do { client = try RuntimeAPIClient(endpoint: endpoint) } catch {
            logger.fatal("cannot create the Runtime API client", [("error", .string(error.description))])
            return 1
        }

        // Init: pick the handler named by _HANDLER and let it build its configuration.
        let name = environment["_HANDLER"] ?? ""
        guard let entry = registry[name] else {
            let message = "no handler named '\(name)'; known handlers: \(registry.names.joined(separator: ", "))"
            reportInitError(client, type: "Runtime.NoSuchHandler", message: message, logger: logger)
            return 1
        }
        let handler: any LambdaHandler
        do {
            handler = try await entry.factory(InitContext(environment: environment, logger: logger, handlerNames: registry.names))
        } catch {
            let (type, message) = error is ConfigurationError ? ErrorType.describe(error)
                : ("Runtime.InitFailed", String(describing: error))
            reportInitError(client, type: type, message: message, logger: logger)
            return 1
        }
        logger.debug("runtime ready", [("handler", .string(name))])

        var served = 0
        var transportFailures = 0
        var malformedInARow = 0
        while maxInvocations.map({ served < $0 }) ?? true {
            let outcome: NextOutcome
            do {
                outcome = try client.next()
                transportFailures = 0
            } catch {
                // The Runtime API is local; a few failures in a row mean the sandbox is going away.
                transportFailures += 1
                logger.error("GET /next failed", [("error", .string(error.description)), ("attempt", .of(transportFailures))])
                if transportFailures >= 3 { return 1 }
                usleep(UInt32(100_000 * transportFailures))
                continue
            }
            switch outcome {
            case .exit(let status, let reason):
                logger.fatal("Runtime API asked the runtime to exit", [("status", .of(status)), ("reason", .string(reason))])
                return 1
            case .localRunOver:
                logger.info("the local Runtime API has served its one event; the runtime stops here (as expected)")
                return 0
            case .malformed(let requestID, let reason):
                logger.error("invalid invocation from the Runtime API", [("reason", .string(reason)), ("requestId", .string(requestID ?? "-"))])
                served += 1
                if let requestID {
                    if case .exit = post({ try client.fail(LambdaRequestID(requestID), type: "Runtime.InvalidInvocation", message: reason) }, logger) { return 1 }
                }
                // A Runtime API that keeps answering nonsense must not make the loop spin: back off, then give up.
                malformedInARow += 1
                if malformedInARow >= Self.maxMalformedInARow {
                    logger.fatal("the Runtime API sent \(malformedInARow) invalid invocations in a row; exiting", [("reason", .string(reason))])
                    return 1
                }
                usleep(Self.malformedBackoffMicroseconds(attempt: malformedInARow))
            case .invocation(let invocation):
                malformedInARow = 0
                served += 1
                if await serve(invocation, handler: handler, client: client, environment: environment, logger: logger) == false {
                    return 1
                }
            }
        }
        return 0
    }

    /// Invalid `/next` answers in a row after which the runtime exits (Lambda then starts a new sandbox).
    public static let maxMalformedInARow = 10

    /// 50 ms doubling per invalid answer in a row, capped at 1 s, with full jitter on the upper half.
    static func malformedBackoffMicroseconds(attempt: Int) -> UInt32 {
        let base = min(1_000_000, 50_000 << min(max(attempt - 1, 0), 5))
        return UInt32(base / 2 + Int.random(in: 0...(base / 2)))
    }

    /// Runs the handler for one event and posts its outcome. Returns false when the runtime must exit.
    static func serve(_ invocation: Invocation, handler: any LambdaHandler, client: RuntimeAPIClient,
                      environment: [String: String], logger: Logger) async -> Bool {
        if let trace = invocation.traceID { setenv("_X_AMZN_TRACE_ID", trace, 1) } else { unsetenv("_X_AMZN_TRACE_ID") }
        let log = logger.with("requestId", invocation.requestID.value)
        let context = InvocationContext(
            requestID: invocation.requestID, deadline: invocation.deadline,
            invokedFunctionARN: invocation.invokedFunctionARN, traceID: invocation.traceID,
            clientContext: invocation.clientContext, cognitoIdentity: invocation.cognitoIdentity,
            tenantID: invocation.tenantID, logger: log, environment: environment)

        let result: Result<[UInt8], any Error>
        do { result = .success(try await handler.handle(invocation.event, context: context)) } catch { result = .failure(error) }

        switch result {
        case .success(let body):
            let outcome = post({ try client.respond(invocation.requestID, body: body) }, log)
            switch outcome {
            case .exit: return false
            case .payloadTooLarge:
                let message = "the response of \(body.count) bytes exceeds the Runtime API's payload limit"
                log.error(message)
                if case .exit = post({ try client.fail(invocation.requestID, type: "Function.ResponseSizeTooLarge", message: message) }, log) {
                    return false
                }
            default: break
            }
        case .failure(let error):
            let (type, message) = ErrorType.describe(error)
            log.error("handler failed", [("errorType", .string(type)), ("errorMessage", .string(message))])
            if case .exit = post({ try client.fail(invocation.requestID, type: type, message: message) }, log) { return false }
        }
        return true
    }

    private static func post(_ call: () throws -> PostOutcome, _ log: Logger) -> PostOutcome {
        do {
            let outcome = try call()
            switch outcome {
            case .accepted, .payloadTooLarge: break
            case .rejected(let status, let body):
                log.error("Runtime API rejected a post", [("status", .of(status)), ("answer", .string(body))])
            case .exit(let status):
                log.fatal("Runtime API answered a post with a container error", [("status", .of(status))])
            }
            return outcome
        } catch {
            log.error("post to the Runtime API failed", [("error", .string(String(describing: error)))])
            return .rejected(status: 0, body: String(describing: error))
        }
    }

    private static func reportInitError(_ client: RuntimeAPIClient, type: String, message: String, logger: Logger) {
        logger.fatal("init failed", [("errorType", .string(type)), ("errorMessage", .string(message))])
        do { _ = try client.initError(type: type, message: message) } catch {
            logger.error("could not post the init error", [("error", .string(error.description))])
        }
    }
}
