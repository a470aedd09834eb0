// The tables of migrations/{postgres,sqlite}; both backends share these definitions.

diesel::table! {
    accounts (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        user_name -> Text,
        external_id -> Nullable<Text>,
        active -> Bool,
        email -> Nullable<Text>,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        display_name -> Nullable<Text>,
        roles -> Text,
        version -> BigInt,
        deleted -> Bool,
        updated_at -> BigInt,
        scim_user_id -> Nullable<Text>,
        email_key -> Nullable<Text>,
        permissions -> Text,
        custom_fields -> Text,
        origin -> Text,
        purge_after -> Nullable<BigInt>,
        purged -> Bool,
        created_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    teams (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        name -> Text,
        external_id -> Nullable<Text>,
        version -> BigInt,
        deleted -> Bool,
        updated_at -> BigInt,
        permissions -> Text,
    }
}

diesel::table! {
    memberships (tenant_id, team_id, account_id) {
        tenant_id -> Text,
        team_id -> Text,
        account_id -> Text,
    }
}

diesel::table! {
    consumed_offsets (topic, kafka_partition) {
        topic -> Text,
        kafka_partition -> Integer,
        next_offset -> BigInt,
    }
}

diesel::table! {
    dead_letters (id) {
        id -> BigInt,
        topic -> Text,
        kafka_partition -> Integer,
        kafka_offset -> BigInt,
        tenant_id -> Text,
        event_type -> Text,
        resource_id -> Text,
        version -> BigInt,
        reason -> Text,
        payload -> Binary,
        recorded_at -> BigInt,
    }
}

diesel::table! {
    service_credentials (id) {
        id -> Text,
        name -> Text,
        tenant_id -> Nullable<Text>,
        scope -> Text,
        token_sha256 -> Text,
        prefix -> Text,
        internal -> Bool,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    teams,
    memberships,
    consumed_offsets,
    dead_letters,
    service_credentials
);
