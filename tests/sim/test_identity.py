"""Simulated modem identities: stable per index, valid numbers, operators in rotation."""

from appliance.sim.identity import OPERATORS, luhn_valid, make_profile


def test_same_index_and_seed_give_the_same_modem():
    assert make_profile(4, "x") == make_profile(4, "x")
    assert make_profile(4, "x").imei != make_profile(4, "y").imei
    assert make_profile(4).imei != make_profile(5).imei


def test_imei_and_iccid_pass_luhn_and_have_real_shapes():
    for index in range(12):
        profile = make_profile(index)
        assert len(profile.imei) == 15 and luhn_valid(profile.imei)
        assert profile.iccid.startswith("8986") and 19 <= len(profile.iccid) <= 20
        assert luhn_valid(profile.iccid)
        assert len(profile.imsi) == 15 and profile.imsi.startswith(profile.mcc_mnc)
        assert profile.own_number.startswith("+861") and len(profile.own_number) == 14
        assert 0 <= profile.signal <= 31


def test_operators_rotate_mobile_unicom_telecom():
    names = [(make_profile(i).operator_name, make_profile(i).mcc_mnc) for i in range(3)]
    assert names == [("CHINA MOBILE", "46000"), ("CHN-UNICOM", "46001"), ("CHN-CT", "46011")]
    assert {o.mcc_mnc for o in OPERATORS} == {"46000", "46001", "46011"}


def test_a_fleet_of_nine_mixes_every_vendor_with_every_operator():
    pairs = {(make_profile(i).manufacturer, make_profile(i).mcc_mnc) for i in range(9)}
    assert len(pairs) == 9


def test_luhn_rejects_a_changed_digit():
    imei = make_profile(0).imei
    wrong = imei[:-1] + str((int(imei[-1]) + 1) % 10)
    assert not luhn_valid(wrong)
