// AWS access: SigV4, credentials, endpoints, and the small service clients apitap calls.
