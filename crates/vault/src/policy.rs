//! Who may do what: one permission table ([`allows`]) and the proof type [`Authorized`], which only
//! [`Policy::authorize`] builds, so a vault operation that takes `&Authorized` cannot be reached
//! without the check (style B8).

use std::fmt;
use std::str::FromStr;

/// Who performs an operation; recorded in every audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Staff login name (or `system` for timers).
    pub name: String,
}

impl Actor {
    /// An actor with this name.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

/// A role or permission check refused: the role does not carry the permission, or the proof was
/// made for another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {role} role may not {permission}")]
pub struct Forbidden {
    /// The caller's role.
    pub role: Role,
    /// What was asked.
    pub permission: Permission,
}

/// A role name that is none of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}; use admin, provisioner, helpdesk or auditor")]
pub struct UnknownRole(pub String);

/// A staff role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Manages staff, keys, imports and exports; may do everything.
    Admin,
    /// Captures seeds, burns and ships tokens.
    Provisioner,
    /// Verifies callers and reveals codes.
    Helpdesk,
    /// Reads the audit trail; never sees codes or seeds.
    Auditor,
}

impl Role {
    /// Every role, in table order.
    pub const ALL: [Role; 4] = [
        Role::Admin,
        Role::Provisioner,
        Role::Helpdesk,
        Role::Auditor,
    ];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Provisioner => "provisioner",
            Role::Helpdesk => "helpdesk",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// Something a role may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// List and read records (no seeds, no codes).
    ViewRecords,
    /// Capture seeds (provisioning), set caller passphrases.
    Capture,
    /// Lifecycle moves (burned, shipped, delivered, lost); cancelling needs [`Permission::Cancel`]
    /// as well, and purging [`Permission::Purge`].
    Transition,
    /// Cancel a record before it ships (captured or burned → cancelled; the seed is destroyed).
    /// Not the helpdesk's: the README's role table gives it deliveries and losses only.
    Cancel,
    /// Reveal codes after verifying the caller; check passphrases; ask for approval.
    Reveal,
    /// Approve another operator's reveal over quota (four-eyes).
    ApproveReveal,
    /// Purge seeds.
    Purge,
    /// Import seeds.
    Import,
    /// Export seeds.
    Export,
    /// Read and verify the audit trail.
    ViewAudit,
    /// Add, disable, reset staff accounts and change roles.
    ManageStaff,
    /// Create and revoke API keys.
    ManageApiKeys,
    /// The stateless Toolset page.
    Toolset,
}

impl Permission {
    /// Every permission, in table order.
    pub const ALL: [Permission; 13] = [
        Permission::ViewRecords,
        Permission::Capture,
        Permission::Transition,
        Permission::Cancel,
        Permission::Reveal,
        Permission::ApproveReveal,
        Permission::Purge,
        Permission::Import,
        Permission::Export,
        Permission::ViewAudit,
        Permission::ManageStaff,
        Permission::ManageApiKeys,
        Permission::Toolset,
    ];

    /// Kebab-case name for messages and the matrix.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ViewRecords => "view-records",
            Permission::Capture => "capture",
            Permission::Transition => "transition",
            Permission::Cancel => "cancel",
            Permission::Reveal => "reveal",
            Permission::ApproveReveal => "approve-reveal",
            Permission::Purge => "purge",
            Permission::Import => "import",
            Permission::Export => "export",
            Permission::ViewAudit => "view-audit",
            Permission::ManageStaff => "manage-staff",
            Permission::ManageApiKeys => "manage-api-keys",
            Permission::Toolset => "toolset",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The permission table: the one place that decides what a role may do.
pub fn allows(role: Role, p: Permission) -> bool {
    use Permission as P;
    match role {
        Role::Admin => true,
        Role::Provisioner => matches!(
            p,
            P::ViewRecords | P::Capture | P::Transition | P::Cancel | P::Reveal | P::Toolset
        ),
        Role::Helpdesk => matches!(
            p,
            P::ViewRecords | P::Reveal | P::ApproveReveal | P::Transition | P::Toolset
        ),
        Role::Auditor => matches!(p, P::ViewRecords | P::ViewAudit),
    }
}

/// An authenticated caller: who (for the audit trail) and in which role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Recorded in every audit event.
    pub actor: Actor,
    /// Decides what the principal may do.
    pub role: Role,
}

/// Proof that a principal passed the policy: [`Policy::authorize`] for one permission, or
/// [`Policy::authorize_role`] for everything its role allows. Its fields are private, so only the
/// policy builds one; every vault operation that changes something takes one and checks it.
#[derive(Debug, Clone)]
pub struct Authorized {
    actor: Actor,
    role: Role,
    /// `None`: any permission of the role.
    permission: Option<Permission>,
}

impl Authorized {
    /// Who acts.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// In which role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The permission that was checked, or `None` for a proof covering the whole role.
    pub fn permission(&self) -> Option<Permission> {
        self.permission
    }

    /// Refuses a permission the role lacks, and a proof made for another permission (an
    /// operation needing `ManageStaff` given a proof for `Reveal`).
    pub(crate) fn require(&self, p: Permission) -> Result<&Actor, Forbidden> {
        if self.permission.is_none_or(|q| q == p) && allows(self.role, p) {
            Ok(&self.actor)
        } else {
            Err(Forbidden {
                role: self.role,
                permission: p,
            })
        }
    }
}

/// The access-control policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy;

impl Policy {
    /// Checks `p` for `principal` against the table.
    ///
    /// # Errors
    /// [`Forbidden`] naming the role and the permission.
    pub fn authorize(principal: &Principal, p: Permission) -> Result<Authorized, Forbidden> {
        if allows(principal.role, p) {
            Ok(Authorized {
                actor: principal.actor.clone(),
                role: principal.role,
                permission: Some(p),
            })
        } else {
            Err(Forbidden {
                role: principal.role,
                permission: p,
            })
        }
    }
}

impl Policy {
    /// A proof for everything `principal`'s role allows, each operation still checking its own
    /// permission against the table. For the command line, whose user holds the master key and
    /// acts as an administrator, and for tests; the web authorizes each request for the one
    /// permission its route needs.
    pub fn authorize_role(principal: &Principal) -> Authorized {
        Authorized {
            actor: principal.actor.clone(),
            role: principal.role,
            permission: None,
        }
    }
}

/// The permission matrix as a Markdown table (ARCHITECTURE.md includes it verbatim; a test keeps
/// the two equal).
pub fn permission_matrix_markdown() -> String {
    let mut out = String::from("| permission |");
    for role in Role::ALL {
        out.push_str(&format!(" {role} |"));
    }
    out.push_str("\n|---|");
    for _ in Role::ALL {
        out.push_str(":---:|");
    }
    out.push('\n');
    for p in Permission::ALL {
        out.push_str(&format!("| {p} |"));
        for role in Role::ALL {
            out.push_str(if allows(role, p) { " yes |" } else { " — |" });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role) -> Principal {
        Principal {
            actor: Actor::new("someone"),
            role,
        }
    }

    #[test]
    fn every_role_and_permission_matches_the_table() {
        use Permission as P;
        let expected: &[(Role, &[Permission])] = &[
            (Role::Admin, &P::ALL),
            (
                Role::Provisioner,
                &[
                    P::ViewRecords,
                    P::Capture,
                    P::Transition,
                    P::Cancel,
                    P::Reveal,
                    P::Toolset,
                ],
            ),
            (
                Role::Helpdesk,
                &[
                    P::ViewRecords,
                    P::Reveal,
                    P::ApproveReveal,
                    P::Transition,
                    P::Toolset,
                ],
            ),
            (Role::Auditor, &[P::ViewRecords, P::ViewAudit]),
        ];
        for (role, granted) in expected {
            for p in Permission::ALL {
                let want = granted.contains(&p);
                assert_eq!(allows(*role, p), want, "{role} {p}");
                let proof = Policy::authorize(&principal(*role), p);
                assert_eq!(proof.is_ok(), want, "{role} {p}");
                match proof {
                    Ok(a) => {
                        assert_eq!(a.permission(), Some(p));
                        assert_eq!(a.role(), *role);
                        assert_eq!(a.actor().name, "someone");
                        assert!(a.require(p).is_ok());
                    }
                    Err(e) => assert!(
                        matches!(e, Forbidden { role: r, permission } if r == *role && permission == p)
                    ),
                }
            }
        }
        println!("{}", permission_matrix_markdown());
    }

    /// The README's role table gives the helpdesk "deliveries and losses", not cancelling (which
    /// destroys the seed of a token not yet sent): only admins and provisioners cancel.
    #[test]
    fn helpdesk_may_not_cancel_a_record() {
        assert!(!allows(Role::Helpdesk, Permission::Cancel));
        assert!(allows(Role::Helpdesk, Permission::Transition));
        assert!(allows(Role::Provisioner, Permission::Cancel));
        assert!(allows(Role::Admin, Permission::Cancel));
        assert!(!allows(Role::Auditor, Permission::Cancel));
    }

    #[test]
    fn auditor_never_reveals_or_exports() {
        for p in [
            Permission::Reveal,
            Permission::Export,
            Permission::ApproveReveal,
        ] {
            assert!(!allows(Role::Auditor, p));
        }
    }

    #[test]
    fn a_role_proof_covers_exactly_the_role() {
        for role in Role::ALL {
            let proof = Policy::authorize_role(&principal(role));
            for p in Permission::ALL {
                assert_eq!(proof.require(p).is_ok(), allows(role, p), "{role} {p}");
            }
        }
    }

    #[test]
    fn a_proof_for_one_permission_does_not_cover_another() {
        let proof = Policy::authorize(&principal(Role::Admin), Permission::Reveal).unwrap();
        assert!(matches!(
            proof.require(Permission::ManageStaff),
            Err(Forbidden { .. })
        ));
    }

    #[test]
    fn roles_round_trip_and_unknown_is_explained() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(r.as_str().to_uppercase().parse::<Role>().unwrap(), r);
        }
        let err = "root".parse::<Role>().unwrap_err().to_string();
        assert!(
            err.contains("admin, provisioner, helpdesk or auditor"),
            "{err}"
        );
    }

    #[test]
    fn architecture_md_carries_the_generated_matrix() {
        let doc = include_str!("../../../ARCHITECTURE.md");
        let table = permission_matrix_markdown();
        assert!(
            doc.contains(&table),
            "ARCHITECTURE.md's permission matrix is out of date; replace it with:\n{table}"
        );
    }
}
