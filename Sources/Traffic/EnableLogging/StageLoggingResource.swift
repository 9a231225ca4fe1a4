// What the enable-logging custom resource does for one CloudFormation event, and its answer. The Lambda handler
// (Sources/apitap) only decodes the event, keeps time to answer and delivers the answer to the ResponseURL.
import AWS
import Core

public enum StageLoggingResource {
    /// The resource's id when CloudFormation has not given one yet (Create).
    public static let defaultPhysicalResourceId = "apitap-stage-logging"

    /// Create and Update turn logging on and answer FAILED with every problem when the properties or the function's
    /// AWS settings are wrong; Delete restores the recorded settings and always answers SUCCESS (with a note when it
    /// could not restore), since a Delete must never block deleting the stack.
    public static func run(_ request: CustomResourceEvent, aws awsClient: Result<AWSClient, ConfigurationProblems>, deadline: Deadline,
                           logger: Logger) async -> (CustomResourceResponse, StageLoggingOutcome) {
        let physicalId = request.physicalResourceId ?? Self.defaultPhysicalResourceId
        func answer(_ success: Bool, _ reason: String, _ outcome: StageLoggingOutcome = StageLoggingOutcome(),
                    data: [(String, String)] = []) -> (CustomResourceResponse, StageLoggingOutcome) {
            (CustomResourceResponse(success: success, reason: reason, physicalResourceId: physicalId, event: request, data: data), outcome)
        }
        let parsed = StageLoggingSettings.parse(request.properties)
        let awsProblem: String
        let aws: AWSClient?
        switch awsClient {
        case .success(let client): (aws, awsProblem) = (client, "")
        case .failure(let problems): (aws, awsProblem) = (nil, problems.description)
        }
        let manager = aws.map { StageLoggingManager(backend: AWSStageLoggingBackend($0), logger: logger) }

        switch request.requestType {
        case .create, .update:
            guard var settings = parsed.settings else {
                return answer(false, "invalid properties: " + parsed.problems.joined(separator: "; "))
            }
            guard let manager, let aws else { return answer(false, "AWS settings of the function: \(awsProblem)") }
            do { try await settings.resolveAPIList(region: aws.region, backend: manager.backend, deadline: deadline) } catch {
                return answer(false, "ApiList: \(error)")
            }
            let previous = request.requestType == .update ? StageLoggingSettings.parse(request.oldProperties).location : nil
            let outcome = await manager.apply(settings, previousLocation: previous, deadline: deadline)
            let data = [("StagesTurnedOn", String(outcome.enabled.count)), ("StagesAlreadyOn", String(outcome.alreadyOn)),
                        ("StagesRestored", String(outcome.restored.count)),
                        ("PreviousSettings", "s3://\(settings.stateBucket)/\(settings.stateKey)")]
            return answer(outcome.failures.isEmpty, outcome.summary(), outcome, data: data)
        case .delete:
            guard let location = parsed.location else {
                return answer(true, "nothing restored: the properties do not say where the previous settings are ("
                              + parsed.problems.joined(separator: "; ") + ")")
            }
            guard let manager else { return answer(true, "nothing restored: AWS settings of the function: \(awsProblem)") }
            let outcome = await manager.restoreAll(bucket: location.bucket, key: location.key, deadline: deadline)
            let reason = outcome.failures.isEmpty ? outcome.summary()
                : "deleted, but not everything was restored (see the function's log and the record in S3): " + outcome.summary()
            return answer(true, reason, outcome, data: [("StagesRestored", String(outcome.restored.count))])
        }
    }
}
