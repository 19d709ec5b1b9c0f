"""The conference archive: admins add conferences; the public page lists them newest first."""


def test_admins_keep_the_conference_archive(client, auth):
    auth.login("admin")
    bad = client.post("/staff/conferences", data={"year": "soon", "theme": "", "place": "Lima"})
    assert bad.status_code == 400 and 'value="Lima"' in bad.get_data(as_text=True)
    client.post(
        "/staff/conferences",
        data={"year": "2027", "theme": "Health Equity Together", "place": "Lima, Peru",
              "attendance": "300+"},
    )  # fmt: skip
    archive = client.get("/conferences").get_data(as_text=True)
    assert "Health Equity Together" in archive and "Lima, Peru" in archive
    assert archive.index("2027") < archive.index("2016")  # newest first
