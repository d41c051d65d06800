//! `[customizations.installer]`: Anaconda settings of installer ISOs.

use serde::{Deserialize, Serialize};

/// `[customizations.installer]`. osbuild refuses `unattended` and
/// `sudo-nopasswd` together with `kickstart` (the kickstart is yours then),
/// and disabling the Users module while `user`/`group` are set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Installer {
    /// Generate a kickstart that installs without questions.
    pub unattended: Option<bool>,
    /// Users and `%groups` given passwordless sudo by the kickstart.
    #[serde(rename = "sudo-nopasswd")]
    pub sudo_nopasswd: Vec<String>,
    pub kickstart: Option<Kickstart>,
    pub modules: Option<AnacondaModules>,
    pub bootloader: Option<InstallerBootloader>,
    pub payload: Option<InstallerPayload>,
}

/// `[customizations.installer.kickstart]`: a kickstart of your own; osbuild
/// appends the lines it needs to install the payload.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Kickstart {
    pub contents: String,
}

/// `[customizations.installer.modules]`: Anaconda D-Bus modules
/// (`org.fedoraproject.Anaconda.Modules.<Name>`) to enable or disable on
/// top of the image type's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnacondaModules {
    pub enable: Vec<String>,
    pub disable: Vec<String>,
}

/// `[customizations.installer.bootloader]`: the ISO's own boot menu.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstallerBootloader {
    pub grub2: Option<InstallerGrub2>,
}

/// `[customizations.installer.bootloader.grub2]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstallerGrub2 {
    /// Seconds before the default entry boots.
    #[serde(rename = "menu-timeout")]
    pub menu_timeout: Option<i64>,
}

/// `[customizations.installer.payload]`: extra payload on the ISO.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstallerPayload {
    pub flatpaks: Option<FlatpakPayload>,
}

/// `[customizations.installer.payload.flatpaks]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlatpakPayload {
    /// Flatpaks installed whatever the kickstart says.
    pub force: Vec<Flatpak>,
}

/// `[[customizations.installer.payload.flatpaks.force]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Flatpak {
    pub registry: Option<FlatpakRegistry>,
    /// Refs such as `app/org.example.App/x86_64/stable`.
    pub references: Vec<String>,
}

/// `[customizations.installer.payload.flatpaks.force.registry]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlatpakRegistry {
    pub remote_name: Option<String>,
    pub url: Option<String>,
}
