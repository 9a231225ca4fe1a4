// Entry point: Lambda mode when started as `bootstrap` or under a Runtime API, the command line otherwise.
import Glibc
import HTTP
import LambdaRuntime
import Core

@main
enum Main {
    static func main() async {
        let arguments = CommandLine.arguments
        let environment = ProcessEnvironment.current
        let program = arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? ""
        // Without /proc (an empty root file system) the arguments may not be readable at all: an empty list
        // under a Runtime API is Lambda mode too.
        let lambdaMode = program == "bootstrap" || (arguments.count <= 1 && environment["AWS_LAMBDA_RUNTIME_API"] != nil)
        if lambdaMode {
            // Keep this path lean: it is the cold start.
            let logger = Logger.fromEnvironment(environment)
            exit(await LambdaRuntime.run(registry: Handlers.registry(), environment: environment, logger: logger))
        }
        await CLI.main()
    }
}

enum ApitapVersion {
    static let current = "0.1.0"
}
