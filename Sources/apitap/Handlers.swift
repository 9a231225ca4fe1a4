// The handlers `_HANDLER` can name, registered once for both Lambda mode and `apitap invoke`.
import LambdaRuntime

enum Handlers {
    static func registry() -> HandlerRegistry {
        var registry = HandlerRegistry()
        registry.register("health", summary: "version, handler list and a redacted configuration summary") { context in
            HealthHandler(version: ApitapVersion.current, handlers: context.handlerNames, summary: .apitap)
        }
        registry.register("tick", summary: "the scheduled job: CloudWatch API Gateway logs to UAP, checkpointed") { context in
            try TickHandler(context: context)
        }
        registry.register("awslogs", summary: "CloudWatch Logs subscription events: stitch and deliver to UAP") { context in
            try AWSLogsHandler(context: context)
        }
        registry.register("enable-logging", summary: "CloudFormation custom resource: API Gateway stage logging on, restored on delete") { context in
            try EnableLoggingHandler(context: context)
        }
        registry.register("api-refresh", summary: "scheduled: stage logging on for API Gateway stages created since the stack ran") { context in
            try APIRefreshHandler(context: context)
        }
        registry.register("audit-export", summary: "the scheduled job: Anypoint audit log to syslog, S3, HTTP or files, checkpointed") { context in
            try AuditExportHandler(context: context)
        }
        registry.register("posture", summary: "the scheduled job: Anypoint API security posture across environments, reports to S3, findings to the audit sinks") { context in
            try PostureHandler(context: context)
        }
        return registry
    }
}

extension ConfigurationSummary {
    /// apitap's settings, by prefix: what the `health` handler shows (secrets hidden).
    static let apitap = ConfigurationSummary(prefixes: [
        "UAP_", "API_", "ENABLE_", "STATE_", "AUDIT_", "ANYPOINT_", "POSTURE_", "POLL_", "MAX_", "SEND_", "OUTPUT_",
        "INCOMPLETE_", "LOGS_", "CONTENT_TYPE_", "EXCLUDED_", "LOG_", "FLEX_", "DELIVERY_", "STAGE_LOGGING_",
    ])
}
