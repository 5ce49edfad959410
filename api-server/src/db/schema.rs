//! The database schema as diesel sees it.
//!
//! Tables are declared through [`tables!`], which expands to diesel's `table!`
//! *and* to [`TABLES`], a plain description of every column. The schema test
//! (`tests/schema.rs`) migrates fresh SQLite and PostgreSQL databases and
//! compares what they really contain with [`TABLES`], so a migration that
//! drifts from this file fails the build's tests on either backend.

/// A column as declared here: name and diesel SQL type as written
/// (`BigInt`, `Nullable<Text>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: &'static str,
    pub sql_type: &'static str,
}

impl ColumnDef {
    pub fn nullable(&self) -> bool {
        self.sql_type.starts_with("Nullable")
    }

    /// The type without `Nullable<…>`.
    pub fn base_type(&self) -> &'static str {
        let t = self.sql_type;
        match t.strip_prefix("Nullable") {
            Some(rest) => rest.trim().trim_start_matches('<').trim_end_matches('>').trim(),
            None => t,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    pub name: &'static str,
    pub columns: &'static [ColumnDef],
}

macro_rules! tables {
    ($( $table:ident ($($pk:ident),+) { $( $col:ident -> $ty:ty, )+ } )+) => {
        $(
            diesel::table! {
                $table ($($pk),+) {
                    $( $col -> $ty, )+
                }
            }
        )+

        /// Every table and column the code expects, in declaration order.
        pub const TABLES: &[TableDef] = &[
            $( TableDef {
                name: stringify!($table),
                columns: &[ $( ColumnDef { name: stringify!($col), sql_type: stringify!($ty) }, )+ ],
            }, )+
        ];
    };
}

tables! {
    users (id) {
        id -> BigInt,
        username -> Text,
        email -> Text,
        password_hash -> Text,
        is_superuser -> Bool,
        is_active -> Bool,
        is_local -> Bool,
        created_at -> Timestamp,
        last_login -> Nullable<Timestamp>,
    }

    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        consumer_key -> Text,
        token_key -> Text,
        token_secret -> Text,
        created_at -> Timestamp,
    }

    sshkeys (id) {
        id -> BigInt,
        user_id -> BigInt,
        key -> Text,
        keysource -> Nullable<Text>,
        created_at -> Timestamp,
    }

    sslkeys (id) {
        id -> BigInt,
        user_id -> BigInt,
        key -> Text,
        created_at -> Timestamp,
    }

    config (name) {
        name -> Text,
        value -> Text,
    }

    zones (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        created_at -> Timestamp,
    }

    resource_pools (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        created_at -> Timestamp,
    }

    domains (id) {
        id -> BigInt,
        name -> Text,
        authoritative -> Bool,
        ttl -> Nullable<Integer>,
        is_default -> Bool,
        created_at -> Timestamp,
        forward_dns_servers -> Text,
    }

    nodes (id) {
        id -> BigInt,
        system_id -> Text,
        node_type -> Integer,
        hostname -> Text,
        description -> Text,
        domain_id -> BigInt,
        architecture -> Nullable<Text>,
        min_hwe_kernel -> Nullable<Text>,
        hwe_kernel -> Nullable<Text>,
        cpu_count -> Integer,
        cpu_speed -> Integer,
        memory -> BigInt,
        swap_size -> Nullable<BigInt>,
        status -> Integer,
        previous_status -> Integer,
        status_message -> Nullable<Text>,
        status_action -> Nullable<Text>,
        status_expires_at -> Nullable<Timestamp>,
        error_description -> Text,
        owner_id -> Nullable<BigInt>,
        agent_name -> Text,
        owner_data -> Text,
        zone_id -> BigInt,
        pool_id -> Nullable<BigInt>,
        osystem -> Text,
        distro_series -> Text,
        user_data -> Nullable<Binary>,
        power_type -> Text,
        power_parameters -> Text,
        power_state -> Text,
        netboot -> Bool,
        locked -> Bool,
        ephemeral_deploy -> Bool,
        enable_hw_sync -> Bool,
        enable_kernel_crash_dump -> Bool,
        hardware_uuid -> Nullable<Text>,
        bios_boot_method -> Nullable<Text>,
        hardware_info -> Text,
        parent_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        gateway_link_ipv4_id -> Nullable<BigInt>,
        gateway_link_ipv6_id -> Nullable<BigInt>,
        enlisting -> Bool,
        erase_mode -> Text,
        power_quarantined -> Bool,
        numa -> Text,
    }

    interfaces (id) {
        id -> BigInt,
        node_id -> BigInt,
        name -> Text,
        iftype -> Text,
        mac_address -> Nullable<Text>,
        enabled -> Bool,
        is_boot -> Bool,
        vlan_id -> Nullable<BigInt>,
        params -> Text,
        tags -> Text,
        link_connected -> Bool,
        interface_speed -> BigInt,
        link_speed -> BigInt,
        vendor -> Nullable<Text>,
        product -> Nullable<Text>,
        firmware_version -> Nullable<Text>,
        created_at -> Timestamp,
    }

    tags (id) {
        id -> BigInt,
        name -> Text,
        definition -> Text,
        comment -> Text,
        kernel_opts -> Text,
        created_at -> Timestamp,
    }

    node_tags (node_id, tag_id) {
        node_id -> BigInt,
        tag_id -> BigInt,
    }

    events (id) {
        id -> BigInt,
        node_id -> Nullable<BigInt>,
        system_id -> Nullable<Text>,
        hostname -> Text,
        username -> Text,
        level -> Integer,
        type_name -> Text,
        action -> Text,
        description -> Text,
        created_at -> Timestamp,
    }

    files (id) {
        id -> BigInt,
        filename -> Text,
        owner_id -> BigInt,
        anon_key -> Text,
        content -> Binary,
        created_at -> Timestamp,
        sha256 -> Nullable<Text>,
        size -> BigInt,
    }

    file_chunks (sha256, seq) {
        sha256 -> Text,
        seq -> Integer,
        data -> Binary,
    }

    notifications (id) {
        id -> BigInt,
        ident -> Nullable<Text>,
        message -> Text,
        context -> Text,
        category -> Text,
        user_id -> Nullable<BigInt>,
        for_users -> Bool,
        for_admins -> Bool,
        dismissable -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }

    notification_dismissals (notification_id, user_id) {
        notification_id -> BigInt,
        user_id -> BigInt,
    }

    jobs (id) {
        id -> BigInt,
        kind -> Text,
        node_id -> Nullable<BigInt>,
        payload -> Text,
        state -> Text,
        run_after -> Timestamp,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }

    spaces (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        created_at -> Timestamp,
    }

    fabrics (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        class_type -> Nullable<Text>,
        created_at -> Timestamp,
    }

    vlans (id) {
        id -> BigInt,
        fabric_id -> BigInt,
        vid -> Integer,
        name -> Nullable<Text>,
        description -> Text,
        mtu -> Integer,
        dhcp_on -> Bool,
        external_dhcp -> Nullable<Text>,
        primary_rack_id -> Nullable<BigInt>,
        secondary_rack_id -> Nullable<BigInt>,
        relay_vlan_id -> Nullable<BigInt>,
        space_id -> Nullable<BigInt>,
        created_at -> Timestamp,
    }

    subnets (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        cidr -> Text,
        vlan_id -> BigInt,
        gateway_ip -> Nullable<Text>,
        dns_servers -> Text,
        rdns_mode -> Integer,
        allow_dns -> Bool,
        allow_proxy -> Bool,
        active_discovery -> Bool,
        managed -> Bool,
        disabled_boot_architectures -> Text,
        created_at -> Timestamp,
    }

    ip_ranges (id) {
        id -> BigInt,
        subnet_id -> BigInt,
        range_type -> Text,
        start_ip -> Text,
        end_ip -> Text,
        comment -> Text,
        user_id -> Nullable<BigInt>,
        created_at -> Timestamp,
    }

    ip_addresses (id) {
        id -> BigInt,
        ip -> Nullable<Text>,
        mode -> Text,
        subnet_id -> Nullable<BigInt>,
        interface_id -> Nullable<BigInt>,
        user_id -> Nullable<BigInt>,
        hostname -> Text,
        mac_address -> Nullable<Text>,
        created_at -> Timestamp,
    }

    interface_parents (child_id, parent_id) {
        child_id -> BigInt,
        parent_id -> BigInt,
    }

    static_routes (id) {
        id -> BigInt,
        source_id -> BigInt,
        destination_id -> BigInt,
        gateway_ip -> Text,
        metric -> Integer,
        created_at -> Timestamp,
    }

    volume_groups (id) {
        id -> BigInt,
        node_id -> BigInt,
        name -> Text,
        uuid -> Text,
        created_at -> Timestamp,
        group_type -> Text,
        cache_mode -> Nullable<Text>,
        cache_set_id -> Nullable<BigInt>,
    }

    block_devices (id) {
        id -> BigInt,
        node_id -> BigInt,
        name -> Text,
        dev_type -> Text,
        id_path -> Nullable<Text>,
        model -> Nullable<Text>,
        serial -> Nullable<Text>,
        firmware_version -> Nullable<Text>,
        size -> BigInt,
        block_size -> BigInt,
        tags -> Text,
        uuid -> Nullable<Text>,
        storage_pool -> Nullable<Text>,
        numa_node -> Integer,
        is_boot_disk -> Bool,
        partition_table_type -> Nullable<Text>,
        volume_group_id -> Nullable<BigInt>,
        created_at -> Timestamp,
    }

    partitions (id) {
        id -> BigInt,
        node_id -> BigInt,
        block_device_id -> BigInt,
        uuid -> Text,
        size -> BigInt,
        bootable -> Bool,
        tags -> Text,
        created_at -> Timestamp,
    }

    filesystems (id) {
        id -> BigInt,
        node_id -> BigInt,
        block_device_id -> Nullable<BigInt>,
        partition_id -> Nullable<BigInt>,
        fstype -> Text,
        uuid -> Text,
        label -> Nullable<Text>,
        mount_point -> Nullable<Text>,
        mount_options -> Nullable<Text>,
        volume_group_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        acquired -> Bool,
    }

    dns_resources (id) {
        id -> BigInt,
        name -> Text,
        domain_id -> BigInt,
        address_ttl -> Nullable<Integer>,
        created_at -> Timestamp,
    }

    dns_resource_ips (dnsresource_id, ip_address_id) {
        dnsresource_id -> BigInt,
        ip_address_id -> BigInt,
        owned -> Bool,
    }

    dns_records (id) {
        id -> BigInt,
        dnsresource_id -> BigInt,
        rrtype -> Text,
        rrdata -> Text,
        ttl -> Nullable<Integer>,
        created_at -> Timestamp,
    }

    rack_controllers (node_id) {
        node_id -> BigInt,
        version -> Text,
        services -> Text,
        last_seen -> Timestamp,
        registered_at -> Timestamp,
        rack_key -> Nullable<Text>,
        accepted -> Bool,
    }

    rack_nonces (signer, nonce) {
        signer -> Text,
        nonce -> Text,
        ts -> BigInt,
    }

    boot_resources (id) {
        id -> BigInt,
        rtype -> Integer,
        name -> Text,
        architecture -> Text,
        title -> Text,
        base_image -> Text,
        subarches -> Text,
        kflavor -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }

    boot_resource_sets (id) {
        id -> BigInt,
        resource_id -> BigInt,
        version -> Text,
        label -> Text,
        created_at -> Timestamp,
    }

    boot_resource_files (id) {
        id -> BigInt,
        set_id -> BigInt,
        filename -> Text,
        filetype -> Text,
        sha256 -> Text,
        size -> BigInt,
        complete -> Bool,
    }

    boot_sources (id) {
        id -> BigInt,
        url -> Text,
        keyring_filename -> Text,
        keyring_data -> Binary,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        skip_keyring_verification -> Bool,
    }

    boot_source_selections (id) {
        id -> BigInt,
        boot_source_id -> BigInt,
        os -> Text,
        release -> Text,
        arches -> Text,
        subarches -> Text,
        labels -> Text,
    }

    node_tokens (node_id) {
        node_id -> BigInt,
        consumer_key -> Text,
        token_key -> Text,
        token_secret -> Text,
        created_at -> Timestamp,
        boot_secret -> Text,
    }

    oauth_nonces (token_key, nonce) {
        token_key -> Text,
        nonce -> Text,
        ts -> BigInt,
    }

    license_keys (osystem, distro_series) {
        osystem -> Text,
        distro_series -> Text,
        license_key -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }

    region_controllers (node_id) {
        node_id -> BigInt,
        version -> Text,
        services -> Text,
        url -> Text,
        started_at -> Timestamp,
        last_seen -> Timestamp,
    }

    reserved_ips (id) {
        id -> BigInt,
        subnet_id -> BigInt,
        ip -> Text,
        mac_address -> Text,
        comment -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }

    dhcp_snippets (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        enabled -> Bool,
        node_id -> Nullable<BigInt>,
        subnet_id -> Nullable<BigInt>,
        iprange_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }

    discoveries (id) {
        id -> BigInt,
        ip -> Text,
        mac_address -> Text,
        hostname -> Nullable<Text>,
        observer_id -> BigInt,
        observer_interface_id -> Nullable<BigInt>,
        vlan_id -> Nullable<BigInt>,
        first_seen -> Timestamp,
        last_seen -> Timestamp,
    }

    dhcp_snippet_versions (id) {
        id -> BigInt,
        snippet_id -> BigInt,
        data -> Text,
        created_at -> Timestamp,
    }

    special_filesystems (id) {
        id -> BigInt,
        node_id -> BigInt,
        fstype -> Text,
        uuid -> Text,
        mount_point -> Text,
        mount_options -> Text,
        acquired -> Bool,
        created_at -> Timestamp,
    }

    ui_sessions (id) {
        id -> BigInt,
        token_hash -> Text,
        user_id -> BigInt,
        csrf_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }

    vm_hosts (id) {
        id -> BigInt,
        name -> Text,
        host_type -> Text,
        power_parameters -> Text,
        zone_id -> BigInt,
        pool_id -> BigInt,
        tags -> Text,
        cpu_over_commit_ratio -> Double,
        memory_over_commit_ratio -> Double,
        default_storage_pool -> Nullable<Text>,
        cores -> BigInt,
        memory -> BigInt,
        local_storage -> BigInt,
        architectures -> Text,
        storage_pools -> Text,
        version -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }

    vm_host_machines (node_id) {
        node_id -> BigInt,
        vm_host_id -> BigInt,
        domain -> Text,
        cores -> BigInt,
        memory -> BigInt,
        disks -> Text,
        composed -> Bool,
    }

    package_repositories (id) {
        id -> BigInt,
        name -> Text,
        url -> Text,
        distributions -> Text,
        disabled_pockets -> Text,
        disabled_components -> Text,
        disable_sources -> Bool,
        components -> Text,
        arches -> Text,
        key -> Text,
        is_default -> Bool,
        enabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }

    scripts (id) {
        id -> BigInt,
        name -> Text,
        title -> Text,
        description -> Text,
        tags -> Text,
        script_type -> Integer,
        hardware_type -> Integer,
        parallel -> Integer,
        results -> Text,
        parameters -> Text,
        packages -> Text,
        timeout_seconds -> BigInt,
        destructive -> Bool,
        is_default -> Bool,
        for_hardware -> Text,
        may_reboot -> Bool,
        recommission -> Bool,
        apply_configured_networking -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }

    script_versions (id) {
        id -> BigInt,
        script_id -> BigInt,
        data -> Text,
        comment -> Text,
        created_at -> Timestamp,
    }

    script_results (id) {
        id -> BigInt,
        node_id -> BigInt,
        phase -> Integer,
        name -> Text,
        status -> Integer,
        exit_status -> Nullable<Integer>,
        output -> Binary,
        stdout -> Binary,
        stderr -> Binary,
        result -> Binary,
        runtime -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        script_set_id -> BigInt,
        parameters -> Text,
        started -> Nullable<Timestamp>,
        ended -> Nullable<Timestamp>,
        suppressed -> Bool,
        hardware_type -> Integer,
        physical_blockdevice_id -> Nullable<BigInt>,
        interface_id -> Nullable<BigInt>,
    }

    script_sets (id) {
        id -> BigInt,
        node_id -> BigInt,
        result_type -> Integer,
        last_ping -> Nullable<Timestamp>,
        requested_scripts -> Text,
        script_parameters -> Text,
        options -> Text,
        created_at -> Timestamp,
    }

    node_devices (id) {
        id -> BigInt,
        node_id -> BigInt,
        bus -> Integer,
        hardware_type -> Integer,
        vendor_id -> Text,
        product_id -> Text,
        vendor_name -> Text,
        product_name -> Text,
        commissioning_driver -> Text,
        bus_number -> Integer,
        device_number -> Integer,
        pci_address -> Nullable<Text>,
        numa_node -> Integer,
        physical_blockdevice_id -> Nullable<BigInt>,
        physical_interface_id -> Nullable<BigInt>,
    }

    node_details (node_id) {
        node_id -> BigInt,
        lshw -> Nullable<Binary>,
        lldp -> Nullable<Binary>,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(rack_controllers -> nodes (node_id));
diesel::joinable!(sshkeys -> users (user_id));
diesel::joinable!(ui_sessions -> users (user_id));
diesel::joinable!(sslkeys -> users (user_id));
diesel::joinable!(nodes -> zones (zone_id));
diesel::joinable!(nodes -> resource_pools (pool_id));
diesel::joinable!(nodes -> domains (domain_id));
diesel::joinable!(nodes -> users (owner_id));
diesel::joinable!(interfaces -> nodes (node_id));
diesel::joinable!(node_tags -> nodes (node_id));
diesel::joinable!(node_tags -> tags (tag_id));
diesel::joinable!(events -> nodes (node_id));
diesel::joinable!(files -> users (owner_id));
diesel::joinable!(vlans -> fabrics (fabric_id));
diesel::joinable!(vlans -> spaces (space_id));
diesel::joinable!(subnets -> vlans (vlan_id));
diesel::joinable!(ip_ranges -> subnets (subnet_id));
diesel::joinable!(ip_addresses -> subnets (subnet_id));
diesel::joinable!(ip_addresses -> interfaces (interface_id));
diesel::joinable!(volume_groups -> nodes (node_id));
diesel::joinable!(block_devices -> nodes (node_id));
diesel::joinable!(partitions -> block_devices (block_device_id));
diesel::joinable!(dns_resources -> domains (domain_id));
diesel::joinable!(dns_resource_ips -> dns_resources (dnsresource_id));
diesel::joinable!(dns_resource_ips -> ip_addresses (ip_address_id));
diesel::joinable!(dns_records -> dns_resources (dnsresource_id));
diesel::joinable!(boot_resource_sets -> boot_resources (resource_id));
diesel::joinable!(boot_resource_files -> boot_resource_sets (set_id));
diesel::joinable!(boot_source_selections -> boot_sources (boot_source_id));
diesel::joinable!(node_tokens -> nodes (node_id));
diesel::joinable!(script_results -> nodes (node_id));
diesel::joinable!(script_results -> script_sets (script_set_id));
diesel::joinable!(script_sets -> nodes (node_id));
diesel::joinable!(node_details -> nodes (node_id));
diesel::joinable!(node_devices -> nodes (node_id));
diesel::joinable!(region_controllers -> nodes (node_id));
diesel::joinable!(reserved_ips -> subnets (subnet_id));
diesel::joinable!(discoveries -> nodes (observer_id));
diesel::joinable!(dhcp_snippet_versions -> dhcp_snippets (snippet_id));
diesel::joinable!(special_filesystems -> nodes (node_id));
diesel::joinable!(script_versions -> scripts (script_id));
diesel::joinable!(vm_hosts -> zones (zone_id));
diesel::joinable!(vm_hosts -> resource_pools (pool_id));
diesel::joinable!(vm_host_machines -> vm_hosts (vm_host_id));
diesel::joinable!(vm_host_machines -> nodes (node_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    api_tokens,
    sshkeys,
    sslkeys,
    config,
    zones,
    resource_pools,
    domains,
    nodes,
    interfaces,
    tags,
    node_tags,
    events,
    files,
    file_chunks,
    notifications,
    notification_dismissals,
    jobs,
    spaces,
    fabrics,
    vlans,
    subnets,
    ip_ranges,
    ip_addresses,
    interface_parents,
    static_routes,
    volume_groups,
    block_devices,
    partitions,
    filesystems,
    dns_resources,
    dns_resource_ips,
    dns_records,
    rack_controllers,
    rack_nonces,
    boot_resources,
    boot_resource_sets,
    boot_resource_files,
    boot_sources,
    boot_source_selections,
    node_tokens,
    oauth_nonces,
    license_keys,
    dhcp_snippets,
    dhcp_snippet_versions,
    special_filesystems,
    script_results,
    region_controllers,
    reserved_ips,
    discoveries,
    ui_sessions,
    vm_hosts,
    vm_host_machines,
    script_sets,
    node_details,
    node_devices,
    package_repositories,
    scripts,
    script_versions,
);
