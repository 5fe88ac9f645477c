module github.com/go-identityweb/identityweb/benchmarks

go 1.26.0

require github.com/go-identityweb/identityweb v0.0.0

require (
	github.com/AzureAD/microsoft-authentication-library-for-go v1.10.1
	github.com/golang-jwt/jwt/v5 v5.2.2 // indirect
	github.com/google/uuid v1.3.0 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
)

replace github.com/go-identityweb/identityweb => ../
