// The tables of migrations/{postgres,sqlite}; both backends share these definitions.

diesel::table! {
    tenants (id) {
        id -> Text,
        display_name -> Text,
        disabled -> Bool,
        created_at -> BigInt,
        region -> Text,
        settings -> Text,
        mapping -> Nullable<Text>,
        group_permissions -> Nullable<Text>,
        config_revision -> BigInt,
    }
}

diesel::table! {
    tenant_tokens (id) {
        id -> Text,
        tenant_id -> Text,
        token_sha256 -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        prefix -> Text,
        expires_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
        rotation_of -> Nullable<Text>,
    }
}

diesel::table! {
    scim_users (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        user_name -> Text,
        user_name_key -> Text,
        external_id -> Nullable<Text>,
        active -> Bool,
        display_name -> Nullable<Text>,
        attributes -> Text,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        account_id -> Nullable<Text>,
        record -> Nullable<Text>,
        record_version -> BigInt,
    }
}

diesel::table! {
    scim_groups (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        display_name -> Text,
        display_name_key -> Text,
        external_id -> Nullable<Text>,
        attributes -> Text,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        record -> Nullable<Text>,
        record_version -> BigInt,
    }
}

diesel::table! {
    group_members (tenant_id, group_id, member_id) {
        tenant_id -> Text,
        group_id -> Text,
        member_id -> Text,
    }
}

diesel::table! {
    outbox (seq) {
        seq -> BigInt,
        event_id -> Text,
        event_type -> Text,
        tenant_id -> Text,
        resource_type -> Text,
        resource_id -> Text,
        payload -> Binary,
        created_at -> BigInt,
        published_at -> Nullable<BigInt>,
        failed_at -> Nullable<BigInt>,
        failure -> Nullable<Text>,
        trace_context -> Nullable<Text>,
        webhooks_queued_at -> Nullable<BigInt>,
        txid -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    operator_keys,
    admin_audit,
    tenants,
    tenant_tokens,
    scim_users,
    scim_groups,
    group_members,
    outbox,
    scim_user_emails,
    service_secrets,
    tenant_schemas,
    provisioning_log,
    account_tombstones,
    republish_jobs,
    republish_job_users,
    tenant_activity,
    portal_sessions,
    webhook_endpoints,
    webhook_deliveries
);

diesel::table! {
    portal_sessions (id) {
        id -> Text,
        tenant_id -> Text,
        secret_sha256 -> Text,
        label -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    republish_jobs (id) {
        id -> Text,
        tenant_id -> Text,
        reason -> Text,
        scope -> Text,
        phase -> Text,
        cursor -> Nullable<Text>,
        total -> BigInt,
        done -> BigInt,
        published -> BigInt,
        skipped -> BigInt,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        finished_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    republish_job_users (job_id, user_id) {
        job_id -> Text,
        user_id -> Text,
    }
}

diesel::joinable!(republish_job_users -> republish_jobs (job_id));

diesel::table! {
    account_tombstones (tenant_id, account_id) {
        tenant_id -> Text,
        account_id -> Text,
        user_name_key -> Text,
        scim_user_id -> Text,
        external_id -> Nullable<Text>,
        record_version -> BigInt,
        deleted_at -> BigInt,
        purge_after -> BigInt,
    }
}

diesel::table! {
    scim_user_emails (tenant_id, value_key, user_id) {
        tenant_id -> Text,
        user_id -> Text,
        value_key -> Text,
    }
}

diesel::table! {
    service_secrets (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    tenant_schemas (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        resource_type -> Text,
        definition -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    provisioning_log (id) {
        id -> BigInt,
        tenant_id -> Text,
        at -> BigInt,
        method -> Text,
        path -> Text,
        resource_type -> Nullable<Text>,
        resource_id -> Nullable<Text>,
        status -> Integer,
        scim_type -> Nullable<Text>,
        detail -> Nullable<Text>,
        warnings -> Nullable<Text>,
        latency_micros -> BigInt,
        trace_id -> Nullable<Text>,
        token_id -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    tenant_activity (tenant_id) {
        tenant_id -> Text,
        first_request_at -> BigInt,
        last_request_at -> BigInt,
        last_user_agent -> Nullable<Text>,
        last_error_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        url -> Text,
        secret -> Text,
        event_types -> Nullable<Text>,
        description -> Nullable<Text>,
        created_at -> BigInt,
        start_seq -> BigInt,
        start_running -> Text,
    }
}

diesel::table! {
    webhook_deliveries (endpoint_id, seq) {
        endpoint_id -> Text,
        seq -> BigInt,
        resource_key -> Text,
        event_id -> Text,
        event_type -> Text,
        state -> Text,
        attempts -> Integer,
        created_at -> BigInt,
        next_attempt_at -> BigInt,
        first_attempt_at -> Nullable<BigInt>,
        last_attempt_at -> Nullable<BigInt>,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    operator_keys (id) {
        id -> Text,
        name -> Text,
        scope -> Text,
        key_sha256 -> Text,
        created_by -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    admin_audit (id) {
        id -> BigInt,
        at -> BigInt,
        operator -> Text,
        key_id -> Nullable<Text>,
        method -> Text,
        path -> Text,
        tenant_id -> Nullable<Text>,
        status -> Integer,
    }
}
