#include "platform/devicetree/known_hardware.h"

namespace pil::devicetree {
namespace {

struct PasEntry {
  absl::string_view soc;  // "" = any SoC
  absl::string_view subsystem;
  uint32_t pas_id;
};

// PAS ids (peripheral ids) used by the Linux PAS, WCNSS, Venus and Iris
// drivers. SoC-specific rows would come before the generic ones.
constexpr PasEntry kPasIds[] = {
    {"", "adsp", 1},    {"", "mpss", 4},    {"", "wpss", 6},   {"", "wcnss", 6},
    {"", "wcss", 6},    {"", "video", 9},   {"", "slpi", 12},  {"", "cdsp", 18},
    {"", "cdsp0", 18},  {"", "nsp0", 18},   {"", "cdsp1", 30}, {"", "nsp1", 30},
    {"", "gpdsp0", 39}, {"", "gpdsp1", 40},
};

struct DtbPasEntry {
  absl::string_view subsystem;
  uint32_t pas_id;
};

constexpr DtbPasEntry kDtbPasIds[] = {
    {"adsp", 36},
    {"cdsp", 37},
    {"mpss", 38},
};

struct DriverEntry {
  absl::string_view compatible;
  absl::string_view firmware;
  // "" = none. The DTB image; for MSS the modem image after the MBA.
  absl::string_view dtb_firmware;
  uint32_t dtb_pas_id;  // 0 = none
};

// The match tables of the Linux drivers (upstream, 2026).
constexpr DriverEntry kDrivers[] = {
    // PAS remoteprocs (qcom_q6v5_pas).
    {"qcom,milos-adsp-pas", "adsp.mdt", "adsp_dtb.mdt", 36},
    {"qcom,milos-cdsp-pas", "cdsp.mbn", "cdsp_dtb.mbn", 37},
    {"qcom,milos-mpss-pas", "modem.mdt", "", 0},
    {"qcom,milos-wpss-pas", "wpss.mdt", "", 0},
    {"qcom,msm8226-adsp-pil", "adsp.mdt", "", 0},
    {"qcom,msm8953-adsp-pil", "adsp.mdt", "", 0},
    {"qcom,msm8974-adsp-pil", "adsp.mdt", "", 0},
    {"qcom,msm8996-adsp-pil", "adsp.mdt", "", 0},
    {"qcom,msm8996-slpi-pil", "slpi.mdt", "", 0},
    {"qcom,msm8998-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,msm8998-slpi-pas", "slpi.mdt", "", 0},
    {"qcom,qcs404-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,qcs404-cdsp-pas", "cdsp.mdt", "", 0},
    {"qcom,qcs404-wcss-pas", "wcnss.mdt", "", 0},
    {"qcom,sa8775p-adsp-pas", "adsp.mbn", "", 0},
    {"qcom,sa8775p-cdsp0-pas", "cdsp0.mbn", "", 0},
    {"qcom,sa8775p-cdsp1-pas", "cdsp1.mbn", "", 0},
    {"qcom,sa8775p-gpdsp0-pas", "gpdsp0.mbn", "", 0},
    {"qcom,sa8775p-gpdsp1-pas", "gpdsp1.mbn", "", 0},
    {"qcom,sar2130p-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,sc7180-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,sc7180-mpss-pas", "modem.mdt", "", 0},
    {"qcom,sc7280-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,sc7280-cdsp-pas", "cdsp.mdt", "", 0},
    {"qcom,sc7280-mpss-pas", "modem.mdt", "", 0},
    {"qcom,sc7280-wpss-pas", "wpss.mdt", "", 0},
    {"qcom,sc8180x-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,sc8180x-cdsp-pas", "cdsp.mdt", "", 0},
    {"qcom,sc8180x-mpss-pas", "modem.mdt", "", 0},
    {"qcom,sc8280xp-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,sc8280xp-nsp0-pas", "cdsp.mdt", "", 0},
    {"qcom,sc8280xp-nsp1-pas", "cdsp.mdt", "", 0},
    {"qcom,sdm660-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,sdm660-cdsp-pas", "cdsp.mdt", "", 0},
    {"qcom,sdm845-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,sdm845-cdsp-pas", "cdsp.mdt", "", 0},
    {"qcom,sdm845-slpi-pas", "slpi.mdt", "", 0},
    {"qcom,sdx55-mpss-pas", "modem.mdt", "", 0},
    {"qcom,sdx75-mpss-pas", "modem.mdt", "modem_dtb.mdt", 38},
    {"qcom,sm6115-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,sm6115-cdsp-pas", "cdsp.mdt", "", 0},
    {"qcom,sm6115-mpss-pas", "modem.mdt", "", 0},
    {"qcom,sm6350-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,sm6350-cdsp-pas", "cdsp.mdt", "", 0},
    {"qcom,sm6350-mpss-pas", "modem.mdt", "", 0},
    {"qcom,sm6375-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,sm6375-cdsp-pas", "cdsp.mdt", "", 0},
    {"qcom,sm6375-mpss-pas", "modem.mdt", "", 0},
    {"qcom,sm8150-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,sm8150-cdsp-pas", "cdsp.mdt", "", 0},
    {"qcom,sm8150-mpss-pas", "modem.mdt", "", 0},
    {"qcom,sm8150-slpi-pas", "slpi.mdt", "", 0},
    {"qcom,sm8250-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,sm8250-cdsp-pas", "cdsp.mdt", "", 0},
    {"qcom,sm8250-slpi-pas", "slpi.mdt", "", 0},
    {"qcom,sm8350-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,sm8350-cdsp-pas", "cdsp.mdt", "", 0},
    {"qcom,sm8350-slpi-pas", "slpi.mdt", "", 0},
    {"qcom,sm8350-mpss-pas", "modem.mdt", "", 0},
    {"qcom,sm8450-adsp-pas", "adsp.mdt", "", 0},
    {"qcom,sm8450-cdsp-pas", "cdsp.mdt", "", 0},
    {"qcom,sm8450-slpi-pas", "slpi.mdt", "", 0},
    {"qcom,sm8450-mpss-pas", "modem.mdt", "", 0},
    {"qcom,sm8550-adsp-pas", "adsp.mdt", "adsp_dtb.mdt", 36},
    {"qcom,sm8550-cdsp-pas", "cdsp.mdt", "cdsp_dtb.mdt", 37},
    {"qcom,sm8550-mpss-pas", "modem.mdt", "modem_dtb.mdt", 38},
    {"qcom,sm8650-adsp-pas", "adsp.mdt", "adsp_dtb.mdt", 36},
    {"qcom,sm8650-cdsp-pas", "cdsp.mdt", "cdsp_dtb.mdt", 37},
    {"qcom,sm8650-mpss-pas", "modem.mdt", "modem_dtb.mdt", 38},
    {"qcom,sm8750-mpss-pas", "modem.mdt", "modem_dtb.mdt", 38},
    {"qcom,x1e80100-adsp-pas", "adsp.mdt", "adsp_dtb.mdt", 36},
    {"qcom,x1e80100-cdsp-pas", "cdsp.mdt", "cdsp_dtb.mdt", 37},
    // Booted without PAS through the QDSP6SS registers (qcom_q6v5_adsp).
    {"qcom,qcs404-cdsp-pil", "cdsp.mdt", "", 0},
    {"qcom,sc7280-adsp-pil", "adsp.pbn", "", 0},
    {"qcom,sc7280-wpss-pil", "wpss.mdt", "", 0},
    {"qcom,sdm845-adsp-pil", "adsp.mdt", "", 0},
    // MBA-based modems (qcom_q6v5_mss): the MBA image, then the modem's.
    {"qcom,q6v5-pil", "mba.mbn", "modem.mdt", 0},
    {"qcom,mdm9607-mss-pil", "mba.mbn", "modem.mdt", 0},
    {"qcom,msm8226-mss-pil", "mba.b00", "modem.mdt", 0},
    {"qcom,msm8909-mss-pil", "mba.mbn", "modem.mdt", 0},
    {"qcom,msm8916-mss-pil", "mba.mbn", "modem.mdt", 0},
    {"qcom,msm8917-mss-pil", "mba.mbn", "modem.mdt", 0},
    {"qcom,msm8926-mss-pil", "mba.b00", "modem.mdt", 0},
    {"qcom,msm8937-mss-pil", "mba.mbn", "modem.mdt", 0},
    {"qcom,msm8940-mss-pil", "mba.mbn", "modem.mdt", 0},
    {"qcom,msm8953-mss-pil", "mba.mbn", "modem.mdt", 0},
    {"qcom,msm8974-mss-pil", "mba.b00", "modem.mdt", 0},
    {"qcom,msm8996-mss-pil", "mba.mbn", "modem.mdt", 0},
    {"qcom,msm8998-mss-pil", "mba.mbn", "modem.mdt", 0},
    {"qcom,sc7180-mss-pil", "mba.mbn", "modem.mdt", 0},
    {"qcom,sc7280-mss-pil", "mba.mbn", "modem.mdt", 0},
    {"qcom,sdm660-mss-pil", "mba.mbn", "modem.mdt", 0},
    {"qcom,sdm845-mss-pil", "mba.mbn", "modem.mdt", 0},
    // Wireless subsystems (qcom_q6v5_wcss). ipq6018's entry is the driver
    // data posted with the ipq6018 device tree's compatible.
    {"qcom,ipq6018-wcss-pil", "IPQ6018/q6_fw.mdt", "", 0},
    {"qcom,ipq8074-wcss-pil", "IPQ8074/q6_fw.mdt", "", 0},
    {"qcom,qcs404-wcss-pil", "wcnss.mdt", "", 0},
    // WCNSS (qcom_wcnss).
    {"qcom,riva-pil", "wcnss.mdt", "", 0},
    {"qcom,pronto-v1-pil", "wcnss.mdt", "", 0},
    {"qcom,pronto-v2-pil", "wcnss.mdt", "", 0},
    {"qcom,pronto-v3-pil", "wcnss.mdt", "", 0},
    // Venus. sc7280 and sm8250 codecs can also bind to the Iris driver;
    // the Venus defaults are used for them.
    {"qcom,msm8916-venus", "qcom/venus-1.8/venus.mbn", "", 0},
    {"qcom,msm8996-venus", "qcom/venus-4.2/venus.mbn", "", 0},
    {"qcom,msm8998-venus", "qcom/venus-4.4/venus.mbn", "", 0},
    {"qcom,qcm2290-venus", "qcom/venus-6.0/venus.mbn", "", 0},
    {"qcom,sc7180-venus", "qcom/venus-5.4/venus.mbn", "", 0},
    {"qcom,sc7280-venus", "qcom/vpu-2.0/venus.mbn", "", 0},
    {"qcom,sdm660-venus", "qcom/venus-4.4/venus.mdt", "", 0},
    {"qcom,sdm845-venus", "qcom/venus-5.2/venus.mbn", "", 0},
    {"qcom,sdm845-venus-v2", "qcom/venus-5.2/venus.mbn", "", 0},
    {"qcom,sm8250-venus", "qcom/vpu-1.0/venus.mbn", "", 0},
    // Iris.
    {"qcom,qcs8300-iris", "qcom/vpu/vpu30_p4_s6.mbn", "", 0},
    {"qcom,sm8550-iris", "qcom/vpu/vpu30_p4.mbn", "", 0},
    {"qcom,sm8650-iris", "qcom/vpu/vpu33_p4.mbn", "", 0},
    {"qcom,sm8750-iris", "qcom/vpu/vpu35_p4.mbn", "", 0},
};

constexpr absl::string_view kPasLoadedPil[] = {
    "qcom,msm8226-adsp-pil", "qcom,msm8953-adsp-pil", "qcom,msm8974-adsp-pil",
    "qcom,msm8996-adsp-pil", "qcom,msm8996-slpi-pil", "qcom,riva-pil",
    "qcom,pronto-v1-pil",    "qcom,pronto-v2-pil",    "qcom,pronto-v3-pil",
};

struct Qdsp6PilEntry {
  absl::string_view compatible;
  Qdsp6Pil pil;
};

constexpr Qdsp6PilEntry kQdsp6Pils[] = {
    {"qcom,qcs404-cdsp-pil", {"cdsp", "qcom_q6v5_adsp"}},
    {"qcom,sc7280-adsp-pil", {"adsp", "qcom_q6v5_adsp"}},
    {"qcom,sc7280-wpss-pil", {"wpss", "qcom_q6v5_adsp"}},
    {"qcom,sdm845-adsp-pil", {"adsp", "qcom_q6v5_adsp"}},
    {"qcom,q6v5-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,mdm9607-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,msm8226-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,msm8909-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,msm8916-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,msm8917-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,msm8926-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,msm8937-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,msm8940-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,msm8953-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,msm8974-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,msm8996-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,msm8998-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,sc7180-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,sc7280-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,sdm660-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,sdm845-mss-pil", {"mpss", "qcom_q6v5_mss"}},
    {"qcom,ipq6018-wcss-pil", {"wcss", "qcom_q6v5_wcss"}},
    {"qcom,ipq8074-wcss-pil", {"wcss", "qcom_q6v5_wcss"}},
    {"qcom,qcs404-wcss-pil", {"wcss", "qcom_q6v5_wcss"}},
};

}  // namespace

std::optional<Qdsp6Pil> Qdsp6PilFor(absl::string_view compatible) {
  for (const Qdsp6PilEntry& e : kQdsp6Pils) {
    if (e.compatible == compatible) return e.pil;
  }
  return std::nullopt;
}

std::optional<uint32_t> PasIdFor(absl::string_view soc,
                                 absl::string_view subsystem) {
  for (const PasEntry& e : kPasIds) {
    if ((e.soc.empty() || e.soc == soc) && e.subsystem == subsystem) {
      return e.pas_id;
    }
  }
  return std::nullopt;
}

std::optional<uint32_t> DtbPasIdFor(absl::string_view subsystem) {
  for (const DtbPasEntry& e : kDtbPasIds) {
    if (e.subsystem == subsystem) return e.pas_id;
  }
  return std::nullopt;
}

std::optional<DriverDefaults> DriverDefaultsFor(
    const std::vector<std::string>& compatible) {
  for (const std::string& c : compatible) {
    for (const DriverEntry& d : kDrivers) {
      if (d.compatible != c) continue;
      DriverDefaults defaults;
      defaults.firmware_names.emplace_back(d.firmware);
      if (!d.dtb_firmware.empty()) {
        defaults.firmware_names.emplace_back(d.dtb_firmware);
      }
      if (d.dtb_pas_id != 0) defaults.dtb_pas_id = d.dtb_pas_id;
      return defaults;
    }
  }
  return std::nullopt;
}

bool IsPasLoadedPil(absl::string_view compatible) {
  for (absl::string_view c : kPasLoadedPil) {
    if (c == compatible) return true;
  }
  return false;
}

}  // namespace pil::devicetree
