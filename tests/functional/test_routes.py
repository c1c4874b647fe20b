"""Every route is classified as public or needing a role (Warehouse pins its routes too)."""

from marketplace.security import access_of

# What each role may open; a new route must be added here on purpose.
EXPECTED = {
    "home.index": "public",
    "ops.healthz": "public",
    "ops.readyz": "public",
    "ops.metrics": "public",
    "home.dashboard": "signed-in",
    "accounts.login": "public",
    "accounts.logout": "signed-in",
    "accounts.set_language": "public",
    "accounts.register": "public",
    "accounts.register_org": "public",
    "accounts.change_password": "signed-in",
    "accounts.notification_settings": "signed-in",
    "accounts.reset_password": "public",
    "accounts.forgot_password": "public",
    "accounts.confirm_email": "public",
    "accounts.send_confirmation": "signed-in",
    "accounts.accept_invitation": "public",
    "catalog.provider": "public",
    "org.members": "signed-in",
    "org.invite": "owner",
    "org.revoke_invitation": "owner",
    "org.resend_invitation": "owner",
    "org.remove_member": "owner",
    "org.change_role": "owner",
    "org.edit_profile": "enterprise,provider owner",
    "admin.organisations": "platform",
    "admin.job_problems": "platform",
    "admin.resubmit_job": "platform",
    "admin.failed_mail": "platform",
    "admin.retry_mail": "platform",
    "verification.queue": "agency,platform",
    "verification.decide": "agency,platform",
    "verification.history": "agency,platform",
    "admin.new_organisation": "platform",
    "admin.organisation": "platform",
    "admin.reset_link": "platform",
    "admin.set_active": "platform",
    "pool.provider_pools": "provider",
    "pool.apply": "provider owner",
    "pool.membership": "provider",
    "pool.queue": "agency",
    "pool.application": "agency",
    "catalog.index": "public",
    "catalog.compare": "public",
    "diagnosis.diagnoses": "enterprise",
    "diagnosis.new_diagnosis": "enterprise",
    "diagnosis.diagnosis": "enterprise",
    "journey.recommendations": "enterprise",
    "journey.take_recommendation": "enterprise",
    "journey.my_bundles": "enterprise",
    "journey.bundle": "enterprise",
    "journey.add_to_bundle": "enterprise",
    "journey.choose_plan": "enterprise",
    "journey.remove_from_bundle": "enterprise",
    "journey.from_curated": "enterprise",
    "journey.bundle_review": "enterprise",
    "journey.checkout": "enterprise owner confirmed",
    "journey.order_list": "enterprise,provider",
    "journey.order": "enterprise,provider",
    "journey.line_event": "enterprise,provider owner",
    "journey.add_milestone": "provider",
    "journey.milestone_done": "provider",
    "journey.review": "enterprise",
    "journey.open_ticket": "enterprise",
    "journey.tickets": "enterprise,provider",
    "journey.ticket": "enterprise,provider",
    "journey.ticket_message": "enterprise,provider",
    "journey.close_ticket": "enterprise",
    "journey.ticket_attachment": "enterprise,provider",
    "journey.notifications": "signed-in",
    "disputes.cases": "agency,platform",
    "disputes.case": "agency,enterprise,platform,provider",
    "disputes.escalate": "enterprise,provider owner",
    "disputes.statement": "enterprise,provider owner",
    "disputes.decide": "agency,platform owner",
    "vouchers.programmes": "agency",
    "vouchers.new_programme": "agency owner",
    "vouchers.edit_programme": "agency owner",
    "vouchers.programme": "agency",
    "vouchers.programme_action": "agency owner",
    "vouchers.issue_batch": "agency owner",
    "vouchers.issue_one": "agency owner",
    "vouchers.import_csv": "agency owner",
    "vouchers.run": "agency",
    "vouchers.run_action": "agency owner",
    "vouchers.programme_vouchers": "agency",
    "vouchers.revoke": "agency owner",
    "vouchers.decide": "agency owner",
    "vouchers.draw_up": "agency owner",
    "vouchers.settlement_page": "agency,provider",
    "vouchers.settlement_csv": "agency,provider",
    "vouchers.settlement_action": "agency owner",
    "vouchers.risk_flags": "agency",
    "vouchers.decide_flag": "agency owner",
    "vouchers.clawback_action": "agency owner",
    "vouchers.claim_recovered": "agency owner",
    "vouchers.my_vouchers": "enterprise",
    "vouchers.voucher": "agency,enterprise",
    "vouchers.apply": "enterprise owner confirmed",
    "vouchers.statements": "provider",
    "outcomes.contracts": "agency,assessor,enterprise,provider",
    "outcomes.contract": "agency,assessor,enterprise,provider",
    "outcomes.propose_baseline": "provider owner",
    "outcomes.decide_baseline": "enterprise owner",
    "outcomes.submit": "provider",
    "outcomes.decide_measurement": "assessor,enterprise owner",
    "outcomes.settle": "agency owner",
    "outcomes.evidence": "agency,assessor,enterprise,provider",
    "outcomes.agency_line": "agency",
    "payments.invoices": "enterprise,provider",
    "payments.invoice": "enterprise,provider",
    "payments.record": "provider owner",
    "payments.void": "provider owner",
    "oversight.concentration_page": "agency",
    "oversight.concentration_action": "agency owner",
    "oversight.audit_trail": "agency",
    "oversight.modes_page": "agency",
    "oversight.burn_page": "agency",
    "oversight.burn_csv": "agency",
    "oversight.transparency_page": "public",
    "oversight.audit_csv": "agency",
    "oversight.dashboard_page": "agency",
    "oversight.dashboard_csv": "agency",
    "evaluation.rounds": "agency",
    "evaluation.new_round": "agency owner",
    "evaluation.round_page": "agency",
    "evaluation.assign": "agency owner",
    "evaluation.close": "agency owner",
    "evaluation.assignments": "assessor",
    "evaluation.score": "assessor",
    "evaluation.results": "provider",
    "data.line_kpis": "enterprise,provider",
    "api.packages": "public",
    "api.package": "public",
    "api.programmes": "public",
    "api.programme": "public",
    "api.order_list": "token orders:read",
    "api.order": "token orders:read",
    "api.transition": "token orders:write",
    "api.contract_list": "token contracts:read",
    "api.contract": "token contracts:read",
    "api.measurement_list": "token contracts:read",
    "api.measurement_post": "token measurements:write",
    "api.invoice_list": "token invoices:read",
    "api.voucher_list": "token vouchers:read",
    "api_docs.openapi_json": "public",
    "api_docs.reference": "public",
    "org.api_tokens_page": "signed-in",
    "org.revoke_api_token": "owner",
    "data.decide_kpi": "enterprise owner",
    "data.my_grants": "enterprise",
    "data.revoke_grant": "enterprise owner",
    "data.shared_with_me": "assessor,provider",
    "data.shared_scope": "assessor,provider",
    "payments.reissue": "provider owner",
    "payments.record_refund": "provider owner",
    "payments.pay": "enterprise owner",
    "payments.stripe_webhook": "public",
    "payments.statement": "provider",
    "payments.payouts": "platform owner",
    "payments.payout_action": "platform owner",
    "catalog.package": "public",
    "catalog.delist": "agency",
    "catalog.bundles": "public",
    "catalog.bundle": "public",
    "catalog.categories": "platform",
    "catalog.thesaurus_page": "agency,platform",
    "catalog.thesaurus_remove": "agency,platform",
    "workspace.packages": "provider",
    "workspace.new_package": "provider",
    "workspace.edit_package": "provider",
    "workspace.add_plan": "provider",
    "workspace.remove_plan": "provider",
    "workspace.add_interface": "provider",
    "workspace.remove_interface": "provider",
    "workspace.lifecycle": "provider owner",
    "workspace.new_version": "provider",
    "workspace.my_bundles": "provider",
    "workspace.new_bundle": "provider owner",
    "workspace.withdraw_bundle": "provider owner",
}


def describe(access):
    if access.public:
        return "public"
    if access.api_scope:
        return f"token {access.api_scope}"
    kinds = ",".join(sorted(access.kinds))
    if access.owner:
        kinds = f"{kinds} owner".strip()
    if access.confirmed:
        kinds = f"{kinds} confirmed".strip()
    return kinds or "signed-in"


def test_every_route_is_classified(app):
    seen = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        access = access_of(rule.endpoint, app)
        assert access is not None, f"{rule} ({rule.endpoint}) is neither public nor given a role"
        seen[rule.endpoint] = describe(access)
    assert seen == EXPECTED


def test_roles_are_enforced(client, dbs):
    from tests.factories import OrganisationFactory, UserFactory

    UserFactory(email="ent@factory.cn")
    UserFactory(email="plat@factory.cn", org=OrganisationFactory(platform=True))
    client.login("ent@factory.cn")
    for path in ["/admin/organisations", "/admin/organisations/new"]:
        assert client.get(path).status_code == 403
    client.form("/logout")
    client.login("plat@factory.cn")
    assert client.get("/admin/organisations").status_code == 200
    assert client.get("/org/profile").status_code == 403  # platform has no self-service profile
