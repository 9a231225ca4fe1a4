// The api-refresh handler's settings (issue 12): the custom resource's properties, read from the environment.
import AWS
import Core
import Testing
import Traffic

@Suite struct APIRefreshSettingsTests {
    static let base = ["STAGE_LOGGING_STATE_URI": "s3://apitap-123-us-east-1/state/123456789012/enable-logging/previous-stage-settings.json",
                       "HTTP_ACCESS_LOG_GROUP_ARN": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/apitap-http-access"]

    @Test func theStackSettingsComeFromTheEnvironment() throws {
        var env = Self.base
        env["ENABLE_HTTP_APIS"] = "false"
        env["ENABLE_DEFAULT_STAGE_LOGGING"] = "true"
        env["API_LIST"] = #"[{"apiId":"a1","stage":"prod","type":"rest"}]"#  // ignored: discovery is on
        let (settings, problems) = StageLoggingSettings.fromEnvironment(env)
        #expect(problems.isEmpty, "\(problems)")
        let s = try #require(settings)
        #expect(s.stateBucket == "apitap-123-us-east-1")
        #expect(s.stateKey == "state/123456789012/enable-logging/previous-stage-settings.json")
        #expect(s.manageRest && !s.manageHTTP && s.enableDefaultStage && s.apiList == nil)
        env["API_AUTO_DISCOVERY"] = "false"
        #expect(StageLoggingSettings.fromEnvironment(env).settings?.apiList == env["API_LIST"])
    }

    @Test func problemsNameTheVariablesNotTheTemplateProperties() {
        let (settings, problems) = StageLoggingSettings.fromEnvironment(["ENABLE_REST_APIS": "maybe", "STAGE_LOGGING_STATE_URI": "bucket/key"])
        #expect(settings == nil)
        #expect(problems.contains { $0.hasPrefix("STAGE_LOGGING_STATE_URI must be s3://bucket/key") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("ENABLE_REST_APIS must be true or false") }, "\(problems)")
        #expect(problems.contains { $0.contains("HTTP_ACCESS_LOG_GROUP_ARN is missing") }, "\(problems)")
    }

    @Test func theAPIListNarrowsTheStagesToItsOwnRegion() throws {
        let list = #"[{"region":"us-east-1","apiId":"a1","stage":"prod","type":"rest"},"#
            + #"{"region":"eu-west-1","apiId":"a1","stage":"dev","type":"rest"},{"apiId":"h1","stage":"$default","type":"http"}]"#
        let entries = try APIList.stages(Array(list.utf8), region: AWSRegion("us-east-1"))
        #expect(entries.map { "\($0.kind.rawValue)/\($0.apiId)/\($0.stage)" } == ["rest/a1/prod", "http/h1/$default"])
        #expect(throws: ConfigurationProblem.self) { try APIList.stages(Array(#"[{"apiId":"a","stage":"s","type":"soap"}]"#.utf8), region: AWSRegion("us-east-1")) }
        var s = try #require(StageLoggingSettings.fromEnvironment(Self.base).settings)
        s.listedStages = ["rest/a1/prod"]
        #expect(s.wants(.rest, apiId: "a1", stage: "prod"))
        #expect(!s.wants(.rest, apiId: "a1", stage: "dev"))
        #expect(!s.wants(.http, apiId: "h1", stage: "$default"))
    }
}
