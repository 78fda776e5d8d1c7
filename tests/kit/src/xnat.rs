//! An XNAT server on 127.0.0.1 that behaves as XNAT's documented REST API does for what the
//! XNAT connector uses, and records every request.
//!
//! - Authentication: Basic credentials on a request open a session, answered with a
//!   `JSESSIONID` cookie; later requests may send the cookie instead. `DELETE /data/JSESSION`
//!   ends the session. Wrong or missing credentials: 401.
//! - `/REST/...` and `/data/...` paths: projects, subjects and experiments (by ID or label),
//!   scans / reconstructions / assessors (by ID or label), and resources with files at every
//!   level. `?format=json` listings have XNAT's `{"ResultSet": {"Result": [...]}}` shape:
//!   containers with `ID`, `label`, `xsiType`; resources with `xnat_abstractresource_id` and
//!   `label`; files as XNAT 1.8 lists a resource's catalog (`CatalogUtils.getEntryDetails`):
//!   `Name` (the file's own name), `Size` (a string), `URI`
//!   (`/data/experiments/E/scans/1/resources/{numeric id}/files/{path}`, the path in the
//!   resource as stored, sub-folders included, not percent-encoded), `collection` (the
//!   resource's label), `file_tags`, `file_format`, `file_content`, `cat_ID` and `digest`
//!   (empty: this server keeps no checksums). A file of a resource may be in sub-folders
//!   (`put_file` with a name holding `/`); `GET .../files/{path}` serves it.
//! - `PUT` a container (with `?xsiType=`) creates it; `PUT .../files/NAME?inbody=true` stores
//!   the body, creating the resource on first upload (409 if the file exists, unless
//!   `overwrite=true`); `DELETE` a file removes it. Unknown things: 404.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use crate::http::{percent_decode as decode, reply, HttpServer, Seen};

/// The account the server accepts.
pub const USER: &str = "xnat-user";
pub const PASSWORD: &str = "xnat-Pa55-word";

/// The container kinds below an experiment.
pub const KINDS: [&str; 3] = ["scans", "reconstructions", "assessors"];

#[derive(Clone, Debug)]
struct Entity {
    id: String,
    label: String,
    xsi_type: String,
    /// The owner's canonical path (`projects/P/subjects/S...`, by IDs), empty for projects.
    parent: String,
    kind: String,
}

#[derive(Default)]
struct Resource {
    id: u64,
    /// Path in the resource (`/`-separated) -> bytes.
    files: BTreeMap<String, Vec<u8>>,
    /// Listing URIs that differ from XNAT's own (to test what a connector makes of them).
    uris: BTreeMap<String, String>,
    /// Listing digests that differ from the files' MD5 (as a damaged catalog would).
    digests: BTreeMap<String, String>,
}

#[derive(Default)]
struct Data {
    entities: Vec<Entity>,
    /// (owner path, resource label) -> resource.
    resources: BTreeMap<(String, String), Resource>,
    next_resource: u64,
}

#[derive(Default)]
struct Xnat {
    /// Answer `DELETE /data/JSESSION` with 500 (to check that a failed logout hides nothing).
    fail_logout: std::sync::atomic::AtomicBool,
    data: Mutex<Data>,
    sessions: Mutex<HashSet<String>>,
    opened: AtomicU64,
    logouts: AtomicU64,
}

/// A running XNAT test server.
pub struct XnatServer {
    http: HttpServer,
    xnat: Arc<Xnat>,
}

impl XnatServer {
    pub fn start() -> Self {
        let xnat = Arc::new(Xnat::default());
        let router = xnat.clone();
        let http =
            HttpServer::start_with_router(Arc::new(move |req: &Seen, out: &mut dyn Write| {
                router.handle(req, out)
            }));
        XnatServer { http, xnat }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        self.http.base()
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.http.seen()
    }

    /// `METHOD path?query` of every request so far, for asserting sequences.
    pub fn sequence(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|s| format!("{} {}", s.method, s.target))
            .collect()
    }

    /// From now on, answer logouts with 500.
    pub fn fail_logouts(&self) {
        self.xnat.fail_logout.store(true, Ordering::SeqCst);
    }

    /// Sessions opened and not logged out.
    pub fn live_sessions(&self) -> usize {
        self.xnat.sessions.lock().unwrap().len()
    }

    /// Sessions opened so far.
    pub fn sessions_opened(&self) -> u64 {
        self.xnat.opened.load(Ordering::SeqCst)
    }

    /// Successful logouts so far.
    pub fn logouts(&self) -> u64 {
        self.xnat.logouts.load(Ordering::SeqCst)
    }

    pub fn add_project(&self, id: &str) {
        self.add("", "projects", id, id, "xnat:projectData");
    }

    pub fn add_subject(&self, project: &str, id: &str, label: &str) {
        self.add(
            &format!("projects/{project}"),
            "subjects",
            id,
            label,
            "xnat:subjectData",
        );
    }

    pub fn add_experiment(&self, project: &str, subject: &str, id: &str, label: &str) {
        let parent = format!("projects/{project}/subjects/{subject}");
        self.add(&parent, "experiments", id, label, "xnat:mrSessionData");
    }

    /// A scan, reconstruction or assessor (`kind`) of an experiment (all by ID).
    pub fn add_container(
        &self,
        experiment_path: &str,
        kind: &str,
        id: &str,
        label: &str,
        xsi_type: &str,
    ) {
        self.add(experiment_path, kind, id, label, xsi_type);
    }

    fn add(&self, parent: &str, kind: &str, id: &str, label: &str, xsi_type: &str) {
        self.xnat.data.lock().unwrap().entities.push(Entity {
            id: id.into(),
            label: label.into(),
            xsi_type: xsi_type.into(),
            parent: parent.into(),
            kind: kind.into(),
        });
    }

    /// Stores a file in resource `resource` of `owner` (a path by IDs, e.g.
    /// `projects/P/subjects/S/experiments/E/scans/1`).
    pub fn put_file(&self, owner: &str, resource: &str, name: &str, bytes: &[u8]) {
        let mut data = self.xnat.data.lock().unwrap();
        let res = data.resource(owner, resource);
        res.files.insert(name.into(), bytes.to_vec());
    }

    /// An empty resource `resource` of `owner` (as XNAT has after a resource is created).
    pub fn add_resource(&self, owner: &str, resource: &str) {
        self.xnat.data.lock().unwrap().resource(owner, resource);
    }

    /// From now on, the listing row of the file `name` has `uri` as its `URI`.
    pub fn set_listed_uri(&self, owner: &str, resource: &str, name: &str, uri: &str) {
        let mut data = self.xnat.data.lock().unwrap();
        let res = data.resource(owner, resource);
        res.uris.insert(name.into(), uri.into());
    }

    /// From now on, the listing row of the file `name` has `digest` as its `digest`.
    pub fn set_listed_digest(&self, owner: &str, resource: &str, name: &str, digest: &str) {
        let mut data = self.xnat.data.lock().unwrap();
        let res = data.resource(owner, resource);
        res.digests.insert(name.into(), digest.into());
    }

    /// A stored file.
    pub fn file(&self, owner: &str, resource: &str, name: &str) -> Option<Vec<u8>> {
        let data = self.xnat.data.lock().unwrap();
        let res = data
            .resources
            .get(&(owner.to_owned(), resource.to_owned()))?;
        res.files.get(name).cloned()
    }

    /// The `(ID, label, xsiType)` of a container, if it exists.
    pub fn container(
        &self,
        experiment_path: &str,
        kind: &str,
        id: &str,
    ) -> Option<(String, String, String)> {
        let data = self.xnat.data.lock().unwrap();
        data.entities
            .iter()
            .find(|e| e.parent == experiment_path && e.kind == kind && e.id == id)
            .map(|e| (e.id.clone(), e.label.clone(), e.xsi_type.clone()))
    }
}

impl Data {
    fn resource(&mut self, owner: &str, label: &str) -> &mut Resource {
        let key = (owner.to_owned(), label.to_owned());
        if !self.resources.contains_key(&key) {
            self.next_resource += 1;
            let id = self.next_resource;
            self.resources.insert(
                key.clone(),
                Resource {
                    id,
                    ..Resource::default()
                },
            );
        }
        self.resources.get_mut(&key).unwrap()
    }

    /// The canonical path of the entity `kind`/`name` (ID or label) under `parent`.
    fn find(&self, parent: &str, kind: &str, name: &str) -> Option<&Entity> {
        let in_parent = |e: &&Entity| e.parent == parent && e.kind == kind;
        let by_id = self
            .entities
            .iter()
            .filter(in_parent)
            .find(|e| e.id == name);
        by_id.or_else(|| {
            self.entities
                .iter()
                .filter(in_parent)
                .find(|e| e.label == name)
        })
    }
}

fn path_of(parent: &str, kind: &str, id: &str) -> String {
    if parent.is_empty() {
        format!("{kind}/{id}")
    } else {
        format!("{parent}/{kind}/{id}")
    }
}

fn json_rows(rows: Vec<serde_like::Row>) -> Vec<u8> {
    let body: Vec<String> = rows.into_iter().map(|row| row.to_json()).collect();
    format!(
        "{{\"ResultSet\": {{\"Result\": [{}], \"totalRecords\": \"{}\"}}}}",
        body.join(", "),
        body.len()
    )
    .into_bytes()
}

/// Just enough JSON writing for listings, without a serializer dependency.
mod serde_like {
    pub struct Row(pub Vec<(&'static str, String)>);

    impl Row {
        pub fn to_json(&self) -> String {
            let fields: Vec<String> = self
                .0
                .iter()
                .map(|(k, v)| {
                    format!(
                        "\"{k}\": \"{}\"",
                        v.replace('\\', "\\\\").replace('"', "\\\"")
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}
use serde_like::Row;

impl Xnat {
    fn handle(&self, req: &Seen, out: &mut dyn Write) -> std::io::Result<bool> {
        let (path, query) = req
            .target
            .split_once('?')
            .unwrap_or((req.target.as_str(), ""));
        let query: Vec<(&str, &str)> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| decode(v))
        };

        // Authentication: a live session cookie, or Basic credentials (which open a session).
        let cookie = req
            .header("cookie")
            .and_then(|c| {
                c.split(';')
                    .find_map(|p| p.trim().strip_prefix("JSESSIONID="))
            })
            .map(str::to_owned);
        let has_session = cookie
            .as_ref()
            .is_some_and(|c| self.sessions.lock().unwrap().contains(c));
        let mut set_cookie = Vec::new();
        if !has_session {
            let expected =
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
            if req.header("authorization") != Some(&format!("Basic {expected}")) {
                return reply(
                    out,
                    401,
                    &[("WWW-Authenticate", "Basic realm=\"XNAT\"".into())],
                    b"",
                );
            }
            let n = self.opened.fetch_add(1, Ordering::SeqCst) + 1;
            let id = format!("{:032X}", n * 0x9E37_79B9_7F4A_7C15);
            self.sessions.lock().unwrap().insert(id.clone());
            set_cookie.push(("Set-Cookie", format!("JSESSIONID={id}; Path=/; HttpOnly")));
        }

        if path == "/data/JSESSION" && req.method == "DELETE" {
            if self.fail_logout.load(Ordering::SeqCst) {
                return reply(out, 500, &set_cookie, b"logout failed");
            }
            if let Some(c) = &cookie {
                if self.sessions.lock().unwrap().remove(c) {
                    self.logouts.fetch_add(1, Ordering::SeqCst);
                }
            }
            return reply(out, 200, &set_cookie, b"");
        }

        let segments: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(decode)
            .collect();
        let rest = match segments.first().map(String::as_str) {
            Some("REST") | Some("data") => &segments[1..],
            _ => return reply(out, 404, &set_cookie, b"not an XNAT path"),
        };
        let (status, headers, body) = self.route(req, rest, &param);
        let mut all = set_cookie;
        all.extend(headers);
        reply(out, status, &all, &body)
    }

    /// Walks the path; answers (status, headers, body).
    fn route(
        &self,
        req: &Seen,
        rest: &[String],
        param: &dyn Fn(&str) -> Option<String>,
    ) -> (u16, Vec<(&'static str, String)>, Vec<u8>) {
        let json = || vec![("Content-Type", "application/json".to_owned())];
        let mut data = self.data.lock().unwrap();
        let mut owner = String::new();
        let mut i = 0;
        // Entities: projects/P[/subjects/S[/experiments/E[/KIND/C]]]
        let levels: [&[&str]; 4] = [&["projects"], &["subjects"], &["experiments"], &KINDS];
        for allowed in levels {
            let Some(kind) = rest.get(i) else { break };
            if !allowed.contains(&kind.as_str()) {
                break;
            }
            let Some(name) = rest.get(i + 1) else {
                // A listing of this kind under the owner.
                if req.method != "GET" {
                    return (405, vec![], vec![]);
                }
                let rows = data
                    .entities
                    .iter()
                    .filter(|e| e.parent == owner && &e.kind == kind)
                    .map(|e| {
                        Row(vec![
                            ("ID", e.id.clone()),
                            ("label", e.label.clone()),
                            ("xsiType", e.xsi_type.clone()),
                            (
                                "URI",
                                format!("/data/{}", path_of(&e.parent, &e.kind, &e.id)),
                            ),
                        ])
                    })
                    .collect();
                return (200, json(), json_rows(rows));
            };
            match data.find(&owner, kind, name) {
                Some(entity) => owner = path_of(&owner, kind, &entity.id.clone()),
                None if KINDS.contains(&kind.as_str())
                    && req.method == "PUT"
                    && rest.len() == i + 2 =>
                {
                    let xsi = param("xsiType").unwrap_or_else(|| match kind.as_str() {
                        "scans" => "xnat:mrScanData".into(),
                        "reconstructions" => "xnat:reconstructedImageData".into(),
                        _ => "xnat:qcAssessmentData".into(),
                    });
                    data.entities.push(Entity {
                        id: name.clone(),
                        label: name.clone(),
                        xsi_type: xsi,
                        parent: owner.clone(),
                        kind: kind.clone(),
                    });
                    return (201, vec![], name.clone().into_bytes());
                }
                None => return (404, vec![], format!("{kind}/{name} not found").into_bytes()),
            }
            i += 2;
        }
        if owner.is_empty() {
            return (404, vec![], vec![]);
        }
        let tail: Vec<&str> = rest[i..].iter().map(String::as_str).collect();
        match (req.method.as_str(), tail.as_slice()) {
            ("PUT", []) => (200, vec![], vec![]),
            ("GET", ["resources"]) => {
                let rows = data
                    .resources
                    .iter()
                    .filter(|((o, _), _)| *o == owner)
                    .map(|((_, label), r)| {
                        Row(vec![
                            ("xnat_abstractresource_id", r.id.to_string()),
                            ("label", label.clone()),
                            ("file_count", r.files.len().to_string()),
                            ("format", String::new()),
                        ])
                    })
                    .collect();
                (200, json(), json_rows(rows))
            }
            ("GET", ["resources", resource, "files"]) => {
                match find_resource(&data, &owner, resource) {
                    Some(label) => {
                        let r = &data.resources[&(owner.clone(), label.clone())];
                        // XNAT's URI of the owner: experiments (and what is below them) by ID
                        // alone.
                        let owner_uri = match owner.find("/experiments/") {
                            Some(at) => format!("/data{}", &owner[at..]),
                            None => format!("/data/{owner}"),
                        };
                        let rows = r
                            .files
                            .iter()
                            .map(|(path, bytes)| {
                                let uri = r.uris.get(path).cloned().unwrap_or_else(|| {
                                    format!("{owner_uri}/resources/{}/files/{path}", r.id)
                                });
                                Row(vec![
                                    ("Name", path.rsplit('/').next().unwrap_or(path).to_owned()),
                                    ("Size", bytes.len().to_string()),
                                    ("URI", uri),
                                    ("collection", label.clone()),
                                    ("file_tags", String::new()),
                                    ("file_format", String::new()),
                                    ("file_content", String::new()),
                                    ("cat_ID", r.id.to_string()),
                                    // XNAT 1.8 lists each file's MD5 (empty when its
                                    // catalog has none).
                                    (
                                        "digest",
                                        r.digests.get(path).cloned().unwrap_or_else(|| {
                                            use md5::Digest as _;
                                            md5::Md5::digest(bytes)
                                                .iter()
                                                .map(|b| format!("{b:02x}"))
                                                .collect()
                                        }),
                                    ),
                                ])
                            })
                            .collect();
                        (200, json(), json_rows(rows))
                    }
                    None => (404, vec![], vec![]),
                }
            }
            ("GET", ["resources", resource, "files", path @ ..]) if !path.is_empty() => {
                let file = path.join("/");
                let found = find_resource(&data, &owner, resource).and_then(|label| {
                    data.resources[&(owner.clone(), label)]
                        .files
                        .get(&file)
                        .cloned()
                });
                match found {
                    Some(bytes) => (200, vec![], bytes),
                    None => (404, vec![], b"file not found".to_vec()),
                }
            }
            ("PUT", ["resources", resource, "files", file]) => {
                if param("inbody").as_deref() != Some("true") {
                    return (400, vec![], b"only inbody=true uploads here".to_vec());
                }
                let label =
                    find_resource(&data, &owner, resource).unwrap_or_else(|| resource.to_string());
                let overwrite = param("overwrite").as_deref() == Some("true");
                let res = data.resource(&owner, &label);
                if res.files.contains_key(*file) && !overwrite {
                    return (409, vec![], b"file already exists".to_vec());
                }
                res.files.insert(file.to_string(), req.body.clone());
                (200, vec![], vec![])
            }
            ("DELETE", ["resources", resource, "files", file]) => {
                let label = find_resource(&data, &owner, resource);
                let removed = label.and_then(|l| {
                    data.resources
                        .get_mut(&(owner.clone(), l))
                        .and_then(|r| r.files.remove(*file))
                });
                match removed {
                    Some(_) => (200, vec![], vec![]),
                    None => (404, vec![], vec![]),
                }
            }
            _ => (404, vec![], vec![]),
        }
    }
}

/// A resource of `owner` by label or by its numeric ID.
fn find_resource(data: &Data, owner: &str, name: &str) -> Option<String> {
    data.resources
        .iter()
        .find(|((o, label), r)| o == owner && (label == name || r.id.to_string() == name))
        .map(|((_, label), _)| label.clone())
}
