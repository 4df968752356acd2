"""LMS integration: LTI 1.3 Advantage (launch, Deep Linking, Assignment and Grade Services, Names and
Roles). The HTTP routes live in grader.http; this package holds the protocol and its outbound calls."""
