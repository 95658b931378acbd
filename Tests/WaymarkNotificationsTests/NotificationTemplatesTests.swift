import Foundation
import Testing
import WaymarkDomain
import WaymarkNotifications

@Suite struct NotificationTemplatesTests {
    static let apology: [String: TemplateValue] = [
        "customer_name": "Ada Lovelace", "order_id": "SO-1042", "delay_hours": "36", "new_delivery_date": "2026-12-09",
        "credit_owed": true, "credit_amount": "EUR 25.00",
    ]

    @Test("the shipped templates load and render in English and German") func theShippedTemplatesLoadAndRenderInEveryLocale() throws {
        let templates = try NotificationTemplates.load(directory: configDirectory.appendingPathComponent("templates"))
        #expect(
            Set(templates.declarations.keys) == ["escalation-raised", "shipment-delay-apology", "csat-survey-invitation", "notification-delivery-failed"])
        let english = try templates.render(template: "shipment-delay-apology", channel: .webhook, locale: "en", values: Self.apology)
        #expect(english.locale == "en")
        #expect(english.text.hasPrefix("Dear Ada Lovelace,\n\nwe are sorry: your order SO-1042 is delayed by about 36 hours."))
        #expect(english.text.contains("\nAs an apology we have credited EUR 25.00 to your account"))
        #expect(!english.text.contains("{{"))
        let german = try templates.render(template: "shipment-delay-apology", channel: .log, locale: "de", values: Self.apology)
        #expect(german.text == "an Ada Lovelace: Bestellung SO-1042 36 h verspätet, neu fällig am 2026-12-09; Gutschrift EUR 25.00")
        var noCredit = Self.apology
        noCredit["credit_owed"] = false
        let plain = try templates.render(template: "shipment-delay-apology", channel: .log, locale: "en", values: noCredit)
        #expect(plain.text == "to Ada Lovelace: order SO-1042 delayed 36 h, now due 2026-12-09")
    }

    @Test("templates render plain text, not HTML") func textIsNotHTMLEscaped() throws {
        let templates = try NotificationTemplates.load(directory: configDirectory.appendingPathComponent("templates"))
        var values = Self.apology
        values["customer_name"] = "Smith & <Sons>"
        let message = try templates.render(template: "shipment-delay-apology", channel: .log, locale: "en", values: values)
        #expect(message.text.hasPrefix("to Smith & <Sons>: "))
    }

    @Test("a locale falls back to its language, then to the default") func localesFallBackToTheLanguageThenTheDefault() throws {
        let templates = try NotificationTemplates.load(directory: configDirectory.appendingPathComponent("templates"))
        #expect(try templates.render(template: "shipment-delay-apology", channel: .log, locale: "de-CH", values: Self.apology).locale == "de")
        #expect(try templates.render(template: "shipment-delay-apology", channel: .log, locale: "fr", values: Self.apology).locale == "en")
    }

    @Test("rendering without a declared variable fails") func renderingWithoutADeclaredVariableFails() throws {
        let templates = try NotificationTemplates.load(directory: configDirectory.appendingPathComponent("templates"))
        var values = Self.apology
        values["credit_amount"] = nil
        #expect {
            try templates.render(template: "shipment-delay-apology", channel: .webhook, locale: "en", values: values)
        } throws: { error in
            (error as? NotificationError)?.code == .missingVariable && "\(error)".contains("credit_amount")
        }
        #expect(throws: NotificationError.self) { try templates.render(template: "no-such-template", channel: .log, locale: "en", values: [:]) }
    }

    @Test("a template using an undeclared variable fails at load with file and line") func anUndeclaredVariableFailsAtLoadWithFileAndLine() throws {
        let error = try withTemplateCopy { directory in
            let file = directory.appendingPathComponent("csat-survey-invitation.webhook.de.mustache")
            try "Guten Tag {{customer_name}},\n\nIhr Fall {{case_reference}}\nvon {{agent_name}}\n".write(to: file, atomically: true, encoding: .utf8)
            return definitionError { _ = try NotificationTemplates.load(directory: directory) }
        }
        let refused = try #require(error)
        #expect(refused.file.hasSuffix("csat-survey-invitation.webhook.de.mustache"))
        #expect(refused.line == 4)
        #expect(refused.message.contains("'agent_name'"))
        #expect(refused.message.contains("does not declare"))
    }

    @Test("a declared template file that is missing fails at load") func aDeclaredButMissingFileFailsAtLoad() throws {
        let error = try withTemplateCopy { directory in
            try FileManager.default.removeItem(at: directory.appendingPathComponent("escalation-raised.log.de.mustache"))
            return definitionError { _ = try NotificationTemplates.load(directory: directory) }
        }
        let refused = try #require(error)
        #expect(refused.file.hasSuffix("templates.yaml"))
        #expect(refused.path == "templates.escalation-raised")
        #expect(refused.line != nil)
        #expect(refused.message.contains("escalation-raised.log.de.mustache is missing"))
    }

    @Test("an undeclared template file, partials, dotted names and broken tags fail at load") func anUndeclaredFileAndBrokenSectionsFailAtLoad() throws {
        let stray = try withTemplateCopy { directory in
            try "Bonjour {{customer_name}}".write(
                to: directory.appendingPathComponent("csat-survey-invitation.webhook.fr.mustache"), atomically: true, encoding: .utf8)
            return definitionError { _ = try NotificationTemplates.load(directory: directory) }
        }
        #expect(try #require(stray).file.hasSuffix("csat-survey-invitation.webhook.fr.mustache"))
        for (text, line) in [
            ("Dear {{customer_name}}\n{{#credit_owed}}\ncredit {{credit_amount}}\n", 2),
            ("Dear {{customer_name}}\n\n{{> footer}}\n", 3),
            ("Dear {{customer.name}}\n", 1),
            ("Dear {{customer_name}\n", 1),
        ] {
            let error = try withTemplateCopy { directory in
                try text.write(to: directory.appendingPathComponent("shipment-delay-apology.webhook.en.mustache"), atomically: true, encoding: .utf8)
                return definitionError { _ = try NotificationTemplates.load(directory: directory) }
            }
            let refused = try #require(error, "\(text)")
            #expect(refused.line == line, "\(refused)")
            #expect(refused.file.hasSuffix("shipment-delay-apology.webhook.en.mustache"))
        }
    }

    @Test("templates.yaml is checked: an unknown channel fails with its path") func theIndexIsChecked() throws {
        let error = try withTemplateCopy { directory in
            let index = directory.appendingPathComponent("templates.yaml")
            let text = try String(contentsOf: index, encoding: .utf8).replacingOccurrences(
                of: "channels: [webhook, log]\n    locales: [en, de]\n\n  csat", with: "channels: [webhook, sms]\n    locales: [en, de]\n\n  csat")
            try text.write(to: index, atomically: true, encoding: .utf8)
            return definitionError { _ = try NotificationTemplates.load(directory: directory) }
        }
        let refused = try #require(error)
        #expect(refused.path == "templates.shipment-delay-apology.channels[1]")
        #expect(refused.message.contains("unknown channel 'sms'"))
    }
}
